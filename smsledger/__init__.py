"""smsledger: the back office of an SMS provider, as an event-sourced ledger.

One import name, rooms by job, arrows pointing inward (checked by the layers contract
in pyproject.toml):

    smsledger.entrypoints   the CLI and ``smsledger serve``
    smsledger.api           HTTP API v1 (FastAPI)            repository: api/
    smsledger.bootstrap     the one composition root: Settings in, Services out
    smsledger.settings      configuration (SMSLEDGER_*)
    smsledger.workers       dispatcher and sweeper
    smsledger.adapters      storage, recorders, transcoder, migrations runner, key
                            store, view connections, the carrier simulator
    smsledger.application   use cases (``Ledger``) and the gateway port
    smsledger.projections   read models, their runner and queries  repository: projections/
    smsledger.domain        the rules and the aggregates; no I/O  repository: domain/
    smsledger.migrations    the SQL that creates every table      repository: migrations/
"""

__version__ = "0.1.0"
