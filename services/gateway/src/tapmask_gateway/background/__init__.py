"""The gateway's background work, run next to the HTTP API in each replica (unless
``TAPMASK_RUN_BACKGROUND=0``): the outbox relay (``relay.py``: committed events to Kafka), the
job-state projector (``projector.py``: worker events into the ``jobs`` table) and the cleanup
(``cleanup.py``: expired files and rows). Loops over the adapters, not adapters themselves."""
