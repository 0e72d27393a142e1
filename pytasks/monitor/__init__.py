"""The per-task monitor: a small daemon holding a task's processes and stdio.

`protocol` is the wire format both halves share; `client` is the CLI half (spawn, request);
`daemon` is the monitor itself (run with `python -m pytasks.monitor`). This package's
__init__ imports nothing so the CLI can import `client` cheaply.
"""
