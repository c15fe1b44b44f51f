"""smsledger: the back office of an SMS provider, as an event-sourced ledger."""

__version__ = "0.1.0"
