"""The lifecycle table: status x operation -> next status. Pure; no I/O.

Status values equal the seed's containerd.v1.types.Status enum, so conversion is identity.
"""

from __future__ import annotations

from enum import Enum, IntEnum, unique

from pytasks.errors import InvalidStateError, NotFoundError


@unique
class Status(IntEnum):
    UNKNOWN = 0
    CREATED = 1
    RUNNING = 2
    STOPPED = 3
    PAUSED = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@unique
class Op(Enum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    KILL = "kill"
    EXEC = "exec"
    CHECKPOINT = "checkpoint"
    DELETE = "delete"
    FORCE_DELETE = "force-delete"
    RESIZE = "resize"
    CLOSE_IO = "close-io"
    UPDATE = "update"


S, O = Status, Op  # noqa: E741 - short aliases keep the table readable

# (from, op) -> to. A missing key means the operation is refused in that status.
# DELETE leads to STOPPED: the record is gone afterwards, so the value is only nominal.
TRANSITIONS: dict[tuple[Status, Op], Status] = {
    (S.CREATED, O.START): S.RUNNING,
    (S.CREATED, O.KILL): S.CREATED,
    (S.CREATED, O.EXEC): S.CREATED,
    (S.CREATED, O.DELETE): S.STOPPED,  # kills the never-started init first
    (S.CREATED, O.FORCE_DELETE): S.STOPPED,
    (S.CREATED, O.RESIZE): S.CREATED,
    (S.CREATED, O.CLOSE_IO): S.CREATED,
    (S.CREATED, O.UPDATE): S.CREATED,
    (S.RUNNING, O.PAUSE): S.PAUSED,
    (S.RUNNING, O.KILL): S.RUNNING,
    (S.RUNNING, O.EXEC): S.RUNNING,
    (S.RUNNING, O.CHECKPOINT): S.RUNNING,
    (S.RUNNING, O.FORCE_DELETE): S.STOPPED,
    (S.RUNNING, O.RESIZE): S.RUNNING,
    (S.RUNNING, O.CLOSE_IO): S.RUNNING,
    (S.RUNNING, O.UPDATE): S.RUNNING,
    (S.PAUSED, O.RESUME): S.RUNNING,
    (S.PAUSED, O.KILL): S.PAUSED,
    (S.PAUSED, O.CHECKPOINT): S.PAUSED,
    (S.PAUSED, O.FORCE_DELETE): S.STOPPED,
    (S.PAUSED, O.RESIZE): S.PAUSED,
    (S.PAUSED, O.CLOSE_IO): S.PAUSED,
    (S.PAUSED, O.UPDATE): S.PAUSED,
    (S.STOPPED, O.DELETE): S.STOPPED,
    (S.STOPPED, O.FORCE_DELETE): S.STOPPED,
    (S.STOPPED, O.RESIZE): S.STOPPED,
    (S.STOPPED, O.CLOSE_IO): S.STOPPED,
    # UNKNOWN: the monitor is lost and nothing recorded an exit; only cleanup is legal.
    (S.UNKNOWN, O.KILL): S.UNKNOWN,
    (S.UNKNOWN, O.DELETE): S.STOPPED,
    (S.UNKNOWN, O.FORCE_DELETE): S.STOPPED,
}

del S, O


def check(op: Op, status: Status) -> Status:
    """Return the status after op, or raise the typed refusal (containerd's wording)."""
    nxt = TRANSITIONS.get((status, op))
    if nxt is not None:
        return nxt
    if op is Op.KILL and status is Status.STOPPED:
        raise NotFoundError("process already finished")
    verb = "delete" if op is Op.FORCE_DELETE else op.value
    raise InvalidStateError(f"cannot {verb} task in {status.label} state")


def allowed(op: Op, status: Status) -> bool:
    return (status, op) in TRANSITIONS


def on_exit(status: Status) -> Status:
    """Exit is a fact: accepted from every status, never refused (docs/architecture.md §2)."""
    return Status.STOPPED


def parse_status(text: str) -> Status:
    """'running', 'RUNNING' -> Status.RUNNING; raises KeyError for anything else."""
    return Status[text.strip().upper()]
