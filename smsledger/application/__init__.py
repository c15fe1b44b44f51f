"""The application: the use cases (``Ledger``) and the ports the workers drive.

Thin by design: load, call the domain, save, retry on a version conflict. It imports
the domain and nothing of the adapters; the composition root (``smsledger.bootstrap``)
gives it its storage and its gateway.
"""

from smsledger.application.ledger import BatchReceipt, Ledger, Written

__all__ = ["BatchReceipt", "Ledger", "Written"]
