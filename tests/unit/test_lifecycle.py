"""pytasks.lifecycle: the whole status x operation table, written out independently.

EXPECTED is the documented table (containerd's shim states, docs/architecture.md §2); every
pair not in it must be refused with containerd's wording, except Kill of a stopped task, which
is NotFound.
"""

from __future__ import annotations

import itertools

import pytest

from pytasks import lifecycle
from pytasks.errors import (
    ExitCode,
    FailedPreconditionError,
    InvalidStateError,
    NotFoundError,
)
from pytasks.lifecycle import Op, Status

C, R, S, P, U = Status.CREATED, Status.RUNNING, Status.STOPPED, Status.PAUSED, Status.UNKNOWN

EXPECTED: dict[tuple[Status, Op], Status] = {
    # created: never ran; may be started, signalled, exec'd into, updated or deleted
    (C, Op.START): R, (C, Op.KILL): C, (C, Op.EXEC): C, (C, Op.DELETE): S,
    (C, Op.FORCE_DELETE): S, (C, Op.RESIZE): C, (C, Op.CLOSE_IO): C, (C, Op.UPDATE): C,
    # running: everything but start, resume and a plain delete
    (R, Op.PAUSE): P, (R, Op.KILL): R, (R, Op.EXEC): R, (R, Op.CHECKPOINT): R,
    (R, Op.FORCE_DELETE): S, (R, Op.RESIZE): R, (R, Op.CLOSE_IO): R, (R, Op.UPDATE): R,
    # paused: no exec, no start, no second pause, no plain delete
    (P, Op.RESUME): R, (P, Op.KILL): P, (P, Op.CHECKPOINT): P, (P, Op.FORCE_DELETE): S,
    (P, Op.RESIZE): P, (P, Op.CLOSE_IO): P, (P, Op.UPDATE): P,
    # stopped: only delete (and harmless io calls)
    (S, Op.DELETE): S, (S, Op.FORCE_DELETE): S, (S, Op.RESIZE): S, (S, Op.CLOSE_IO): S,
    # unknown (monitor lost, no exit recorded): only clean-up
    (U, Op.KILL): U, (U, Op.DELETE): S, (U, Op.FORCE_DELETE): S,
}

ALL_PAIRS = list(itertools.product(Status, Op))


def test_table_is_exactly_the_documented_one() -> None:
    assert lifecycle.TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("status", "op"), ALL_PAIRS,
                         ids=[f"{s.label}-{o.value}" for s, o in ALL_PAIRS])
def test_every_pair_moves_or_is_refused(status: Status, op: Op) -> None:
    if (status, op) in EXPECTED:
        assert lifecycle.check(op, status) is EXPECTED[(status, op)]
        assert lifecycle.allowed(op, status)
        return
    assert not lifecycle.allowed(op, status)
    if op is Op.KILL and status is Status.STOPPED:
        with pytest.raises(NotFoundError) as info:
            lifecycle.check(op, status)
        assert not isinstance(info.value, FailedPreconditionError)
        assert str(info.value) == "process already finished"
        assert info.value.exit_code == ExitCode.NOT_FOUND
        return
    with pytest.raises(InvalidStateError) as info:
        lifecycle.check(op, status)
    verb = "delete" if op is Op.FORCE_DELETE else op.value
    assert str(info.value) == f"cannot {verb} task in {status.name.lower()} state"
    assert isinstance(info.value, FailedPreconditionError)
    assert info.value.exit_code == ExitCode.FAILED_PRECONDITION


@pytest.mark.parametrize(("status", "op", "message"), [
    (R, Op.START, "cannot start task in running state"),
    (R, Op.DELETE, "cannot delete task in running state"),
    (P, Op.DELETE, "cannot delete task in paused state"),
    (C, Op.PAUSE, "cannot pause task in created state"),
    (S, Op.START, "cannot start task in stopped state"),
    (P, Op.EXEC, "cannot exec task in paused state"),
    (U, Op.START, "cannot start task in unknown state"),
])
def test_refusals_use_containerd_wording(status: Status, op: Op, message: str) -> None:
    with pytest.raises(InvalidStateError, match=f"^{message}$"):
        lifecycle.check(op, status)


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.label)
def test_exit_is_accepted_from_every_status(status: Status) -> None:
    assert lifecycle.on_exit(status) is Status.STOPPED


def test_status_values_are_the_seed_enum() -> None:
    assert {s.name: int(s) for s in Status} == {
        "UNKNOWN": 0, "CREATED": 1, "RUNNING": 2, "STOPPED": 3, "PAUSED": 4}
    assert [s.label for s in Status] == ["unknown", "created", "running", "stopped", "paused"]


@pytest.mark.parametrize(("text", "status"), [
    ("running", R), ("RUNNING", R), (" Paused\n", P), ("unknown", U)])
def test_parse_status(text: str, status: Status) -> None:
    assert lifecycle.parse_status(text) is status


@pytest.mark.parametrize("text", ["", "run", "exited", "2"])
def test_parse_status_refuses_other_text(text: str) -> None:
    with pytest.raises(KeyError):
        lifecycle.parse_status(text)
