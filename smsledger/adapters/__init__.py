"""Adapters: what the application and the read side need, on SQLite and PostgreSQL
(storage, event recorders, the transcoder, view connections, the migrations runner, the
key store) and the carrier simulator behind the gateway port.
"""
