"""Entrypoints: the ``smsledger`` console script and ``smsledger serve``; each builds the
service through ``smsledger.bootstrap``.
"""
