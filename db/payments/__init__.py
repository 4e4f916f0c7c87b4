"""Payments (issue 4): intents written by the web, applied by workers (DESIGN §3–§4).

- `intents`: create an intent (idempotent), its status, the allocation preview.
- `requirements`: the wizard's "Requisitos" table, gathered from the rows and the ledger.
- `processing`: the steps a worker runs, each one transaction that locks the intent.
- `reconcile`: the beat task's scan for intents that did not move in time.
- `receipts`, `history`: what the member sees afterwards.
"""
