"""App: the context object of every verb. Builds heavy pieces lazily, on first use."""

from __future__ import annotations

from functools import cached_property

from pytasks.plain import Plain

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pytasks.engine import Engine
    from pytasks.service import TasksService
    from pytasks.state.container_record import ContainerStore
    from pytasks.state.layout import Layout


class App(Plain):
    __slots__ = ("__dict__",)  # cached_property keeps its values in the instance's __dict__
    root: str | None
    state: str | None
    namespace: str
    runtime: str
    debug: bool

    def __post_init__(self) -> None:
        from pytasks.cli.checks import text

        # Looked up on PATH or run as given, and stored in container records.
        text(self.runtime, "--runtime")

    @cached_property
    def layout(self) -> Layout:
        """The roots, checked before their first use (every verb's first use is here)."""
        from pytasks import ids
        from pytasks.cli.checks import directory
        from pytasks.state.layout import Layout, default_roots

        ids.validate(self.namespace, "namespace")
        root, state = default_roots()
        return Layout.of(directory(self.root or root, "--root"),
                         directory(self.state or state, "--state"), self.namespace)

    @cached_property
    def engine(self) -> Engine:
        """The RPCs without protobuf: what the verbs call."""
        from pytasks.engine import Engine

        return Engine(self.layout, runtime=self.runtime)

    @cached_property
    def service(self) -> TasksService:
        """The RPCs with their messages: for --format json, which prints responses."""
        from pytasks.service import TasksService

        return TasksService(self.layout, runtime=self.runtime)

    @cached_property
    def containers(self) -> ContainerStore:
        from pytasks.state.container_record import ContainerStore

        return ContainerStore(self.layout)
