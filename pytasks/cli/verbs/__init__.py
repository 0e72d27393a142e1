"""One module per verb: its click-free body and `command()`, which builds its click command.

The body is what both doors call: the fast path (fast.py, through the generated table in
fast_table.py) and the click command; `command()` imports click only when it is called, so
the fast path never pays for it. Parameter names are click's, so one `**params` fits both.
"""
