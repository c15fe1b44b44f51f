"""The smsledger domain: status codes, money, text, rules and the aggregates.

Nothing in this package touches a database, the web framework or the wall clock.
"""
