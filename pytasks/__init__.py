"""pytasks: a daemonless, ctr-style CLI for the containerd Tasks service."""

__version__ = "0.1.0"
