"""The per-task monitor: a small daemon holding a task's processes and stdio.

`protocol` is the wire format both halves share; `client` is the CLI half (spawn, request);
`daemon` is the Python monitor (run with `python -m pytasks.monitor`). The default monitor
is the compiled one (monitor-c/), installed here as `pytasks-monitor`; `client.monitor_argv`
chooses (PYTASKS_MONITOR). This package's __init__ imports nothing so the CLI can import
`client` cheaply.
"""
