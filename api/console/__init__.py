"""The support and finance console at ``/console``: server-rendered HTML (Jinja2, no
script), logged in by a session cookie, on the same read models and use cases as the API.
"""
