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

    @cached_property
    def layout(self) -> Layout:
        from pytasks import ids
        from pytasks.state.layout import Layout, default_roots

        ids.validate(self.namespace, "namespace")
        root, state = default_roots()
        return Layout.of(self.root or root, self.state or state, self.namespace)

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
