"""The shape of every record on disk, checked on read (docs/architecture.md §7).

A record is a JSON object; each kind names its required and optional fields and their
types. Unknown fields are allowed (a newer pytasks may add some), a wrong type or a missing
required field is not: the reader gets DataLoss naming the file and the field, never a
KeyError, TypeError or AttributeError later. Stdlib only: the monitor imports it.
"""

from __future__ import annotations

from pytasks import errors

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Kind:
    """A field's type: a name for messages and a test (bool is not an int here)."""

    __slots__ = ("name", "nullable", "types")

    def __init__(self, name: str, types: tuple[type, ...], nullable: bool = False) -> None:
        self.name = name
        self.types = types
        self.nullable = nullable

    def accepts(self, value: object) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, self.types)


STR = Kind("a string", (str,))
INT = Kind("an integer", (int,))
INT_OR_NULL = Kind("an integer or null", (int,), nullable=True)
STR_OR_NULL = Kind("a string or null", (str,), nullable=True)
BOOL = Kind("a boolean", (bool,))
OBJECT = Kind("an object", (dict,))
LIST = Kind("a list", (list,))

# The largest value a pid, exit status or timestamp field may hold: what the wire's
# integer types carry (pids are uint32; times are int64 nanoseconds).
LIMITS = {"pid": (0, 2**32 - 1), "exit_status": (0, 2**32 - 1),
          "exited_at_ns": (0, 2**63 - 1), "start_time": (0, 2**63 - 1)}


class Schema:
    __slots__ = ("nested", "optional", "required", "what")

    def __init__(self, what: str, required: dict[str, Kind],
                 optional: dict[str, Kind] | None = None,
                 nested: dict[str, Schema] | None = None) -> None:
        self.what = what
        self.required = required
        self.optional = optional or {}
        self.nested = nested or {}

    def read(self, path: str) -> dict[str, Any]:
        """The record at path, of this shape (without following a planted symlink);
        FileNotFoundError when there is none, DataLoss naming path when it is unreadable
        or corrupt."""
        from pytasks.state.atomic import read_json

        try:
            value = read_json(path)
        except FileNotFoundError:
            raise
        except PermissionError as exc:  # not lost: someone else's (exit 7)
            raise errors.permission_denied(exc) from None
        except (OSError, ValueError) as exc:
            raise errors.DataLossError(f"{self.what} {path} is unreadable: {exc}") from exc
        return self.check(value, path)

    def check(self, value: object, path: str) -> dict[str, Any]:
        """value itself when it has this shape; DataLoss naming path and the field."""
        problem = self.problem(value)
        if problem is not None:
            raise errors.DataLossError(f"{self.what} {path} is corrupt: {problem}")
        return value  # type: ignore[return-value]  # problem() saw a dict

    def problem(self, value: object) -> str | None:
        """What is wrong with value, or None."""
        if not isinstance(value, dict):
            return f"it is {_json_kind(value)}, not an object"
        for name in self.required:
            if name not in value:
                return f"it has no field {name!r}"
        for name, kind in (*self.required.items(), *self.optional.items()):
            if name not in value:
                continue
            field = value[name]
            if not kind.accepts(field):
                return f"field {name!r} is {_json_kind(field)}, not {kind.name}"
            bounds = LIMITS.get(name)
            if bounds is not None and isinstance(field, int) and \
                    not bounds[0] <= field <= bounds[1]:
                return f"field {name!r} is out of range: {field}"
        for name, schema in self.nested.items():
            if name in value:
                problem = schema.problem(value[name])
                if problem is not None:
                    return f"field {name!r}: {problem}"
        return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


MONITOR = Schema("monitor identity", {}, {"pid": INT, "start_time": INT_OR_NULL})

# task.json: written by the CLI (engine.py) under the task lock.
TASK = Schema("task record", {
    "id": STR, "container_id": STR, "pid": INT, "status": STR, "runtime": STR,
    "monitor": OBJECT,
}, {
    "stdin": STR, "stdout": STR, "stderr": STR, "terminal": BOOL, "cgroup": STR,
    "created_at": STR, "started_at": STR,
}, {"monitor": MONITOR})

# init.exit and exec/<pid>.exit: written by the monitor (protocol.exit_record).
EXIT = Schema("exit record", {
    "pid": INT, "exit_status": INT, "exited_at_ns": INT,
}, {"exited_at": STR, "oom_killed": BOOL})

# exec/<pid>.json: written by the monitor when an exec starts.
EXEC = Schema("exec record", {"pid": INT}, {
    "args": LIST, "cwd": STR, "user": OBJECT, "terminal": BOOL, "stdin": STR, "stdout": STR,
    "stderr": STR, "start_time": INT_OR_NULL, "created_at": STR,
})

# containers/<id>.json: written by ContainerStore.create.
CONTAINER = Schema("container record", {
    "id": STR, "spec": OBJECT, "rootfs": OBJECT, "runtime": OBJECT,
}, {
    "labels": OBJECT, "image": STR, "created_at": STR, "updated_at": STR,
    "task_state": STR,  # the state dir that holds the container's task, if any
}, {
    "rootfs": Schema("rootfs", {"kind": STR}, {"path": STR}),
    "runtime": Schema("runtime", {}, {"name": STR}),
})
