"""App: the context object of every verb. Builds heavy pieces lazily, on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytasks.containers import ContainerStore
    from pytasks.engine import Engine
    from pytasks.service import TasksService
    from pytasks.state.layout import Layout


@dataclass
class App:
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
        from pytasks.containers import ContainerStore

        return ContainerStore(self.layout)
