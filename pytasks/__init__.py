"""pytasks: a daemonless, ctr-style CLI for the containerd Tasks service."""

__version__ = "0.1.0"
# The date of release __version__, bumped with it: the man pages' .TH date (man/generate),
# so that generating the pages of one release gives the same bytes on any day.
RELEASE_DATE = "2026-12-04"
