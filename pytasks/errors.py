"""The closed set of error classes and the one table mapping them to gRPC and exit codes.

Stdlib only: the monitor imports it too.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class Code(IntEnum):
    """google.rpc.Code values (declared here so grpcio is not a dependency)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15


@unique
class ExitCode(IntEnum):
    """Exit codes of the CLI (docs/architecture.md §6). Attached verbs pass the process status
    through."""

    OK = 0
    FAILURE = 1
    INVALID_ARGUMENT = 2
    NOT_FOUND = 3
    ALREADY_EXISTS = 4
    FAILED_PRECONDITION = 5
    UNAVAILABLE = 6
    PERMISSION_DENIED = 7
    UNIMPLEMENTED = 8
    ATTACH_FAILED = 125  # pytasks itself failed while running an attached process
    CANNOT_INVOKE = 126
    COMMAND_NOT_FOUND = 127
    INTERRUPTED = 130


class PytasksError(Exception):
    """Base class: an error a caller can act on. Unclassified failures use this class."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> Code:
        return _lookup(type(self))[0]

    @property
    def exit_code(self) -> ExitCode:
        return _lookup(type(self))[1]

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(PytasksError):
    """The request is malformed (bad id, bad signal, bad option); nothing was touched."""


class NotFoundError(PytasksError):
    """No such container, task or process (or the process already finished)."""


class AlreadyExistsError(PytasksError):
    """The container or task exists already."""


class FailedPreconditionError(PytasksError):
    """The object is in the wrong state for the operation."""


class InvalidStateError(FailedPreconditionError):
    """Raised only by lifecycle.check: an illegal status transition."""


class CommandNotFoundError(NotFoundError):
    """The process's executable does not exist in the container (docker's 127)."""


class UnavailableError(PytasksError):
    """A lock or a monitor did not answer in time; retrying may succeed."""


class ResourceExhaustedError(UnavailableError):
    """No space (ENOSPC, EDQUOT) for a write under the roots: retry once space is freed."""


class DeadlineExceededError(UnavailableError):
    """A monitor did not report readiness in time."""


class PermissionDeniedError(PytasksError):
    """The caller may not touch the roots or the runtime refused for lack of privilege."""


def permission_denied(exc: OSError) -> PermissionDeniedError:
    """An EACCES/EPERM from the roots as one line: which path, and the likely cause (state
    that belongs to another user; pytasks runs tasks as root only)."""
    import os

    path = exc.filename if isinstance(exc.filename, str) else ""
    if not path:
        return PermissionDeniedError(f"permission denied: {exc.strerror}")
    if os.geteuid() == 0:
        return PermissionDeniedError(f"permission denied: {path}")
    try:
        os.lstat(path)
        hidden = True  # there, and not ours
    except FileNotFoundError:
        hidden = False
    except OSError:
        hidden = True  # a directory on the way is not ours
    if hidden:
        return PermissionDeniedError(
            f"permission denied: {path} belongs to another user (run as its owner or root, "
            "or give your own --root and --state)")
    return PermissionDeniedError(
        f"permission denied: cannot create {path} (give --root and --state you can write, "
        "or run as root)")


class CommandNotExecutableError(PermissionDeniedError):
    """The process's executable exists but cannot be run (docker's 126)."""


class UnimplementedError(PytasksError):
    """The runtime or host lacks a feature the request needs."""


class RuntimeFailedError(PytasksError):
    """The OCI runtime exited non-zero with a message no table row classifies."""


class InternalError(PytasksError):
    """A broken invariant: a bug in pytasks."""


class DataLossError(PytasksError):
    """A record on disk is unreadable or corrupt."""


# The one table: class -> (gRPC code, CLI exit code). Subclasses not listed inherit their
# parent's row through the MRO walk in _lookup.
ERROR_TABLE: dict[type[PytasksError], tuple[Code, ExitCode]] = {
    PytasksError: (Code.UNKNOWN, ExitCode.FAILURE),
    InvalidArgumentError: (Code.INVALID_ARGUMENT, ExitCode.INVALID_ARGUMENT),
    NotFoundError: (Code.NOT_FOUND, ExitCode.NOT_FOUND),
    AlreadyExistsError: (Code.ALREADY_EXISTS, ExitCode.ALREADY_EXISTS),
    FailedPreconditionError: (Code.FAILED_PRECONDITION, ExitCode.FAILED_PRECONDITION),
    InvalidStateError: (Code.FAILED_PRECONDITION, ExitCode.FAILED_PRECONDITION),
    UnavailableError: (Code.UNAVAILABLE, ExitCode.UNAVAILABLE),
    DeadlineExceededError: (Code.DEADLINE_EXCEEDED, ExitCode.UNAVAILABLE),
    ResourceExhaustedError: (Code.RESOURCE_EXHAUSTED, ExitCode.UNAVAILABLE),
    PermissionDeniedError: (Code.PERMISSION_DENIED, ExitCode.PERMISSION_DENIED),
    CommandNotFoundError: (Code.NOT_FOUND, ExitCode.COMMAND_NOT_FOUND),
    CommandNotExecutableError: (Code.PERMISSION_DENIED, ExitCode.CANNOT_INVOKE),
    UnimplementedError: (Code.UNIMPLEMENTED, ExitCode.UNIMPLEMENTED),
    RuntimeFailedError: (Code.UNKNOWN, ExitCode.FAILURE),
    InternalError: (Code.INTERNAL, ExitCode.FAILURE),
    DataLossError: (Code.DATA_LOSS, ExitCode.FAILURE),
}

# Reverse direction (for a gRPC client or the monitor's wire replies): code -> class.
_BY_CODE: dict[Code, type[PytasksError]] = {
    Code.UNKNOWN: PytasksError,
    Code.INVALID_ARGUMENT: InvalidArgumentError,
    Code.NOT_FOUND: NotFoundError,
    Code.ALREADY_EXISTS: AlreadyExistsError,
    Code.FAILED_PRECONDITION: FailedPreconditionError,
    Code.UNAVAILABLE: UnavailableError,
    Code.DEADLINE_EXCEEDED: DeadlineExceededError,
    Code.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    Code.PERMISSION_DENIED: PermissionDeniedError,
    Code.UNIMPLEMENTED: UnimplementedError,
    Code.INTERNAL: InternalError,
    Code.DATA_LOSS: DataLossError,
}


def _lookup(cls: type) -> tuple[Code, ExitCode]:
    for klass in cls.__mro__:
        row = ERROR_TABLE.get(klass)
        if row is not None:
            return row
    return ERROR_TABLE[PytasksError]


def from_code(code: int | str, message: str, kind: str = "") -> PytasksError:
    """Rebuild an error from its gRPC code (number or name), e.g. from a monitor reply.
    kind, the class name, restores a subclass when both ends know it."""
    for cls in ERROR_TABLE:
        if cls.__name__ == kind:
            return cls(message)
    try:
        key = Code[code] if isinstance(code, str) else Code(code)
    except (KeyError, ValueError):
        key = Code.UNKNOWN
    return _BY_CODE.get(key, PytasksError)(message)
