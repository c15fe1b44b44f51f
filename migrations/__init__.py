"""The SQL that creates every table, the event store's included: ``postgres/`` and
``sqlite/``, applied in file-name order by ``smsledger.adapters.migrate``. Shipped
inside the package as data.
"""
