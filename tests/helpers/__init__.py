"""Helpers for the test suite (importable as `helpers`; tests/conftest.py puts tests/ on
sys.path).

- rootfs:  build a busybox rootfs from busybox-static
- roots:   a test's own --root/--state and a way to run the installed `pytasks`
- cleanup: remove every container, monitor, mount and cgroup a test left behind
- startup: the start-up rules (modules each door may not load), for the import guards
"""
