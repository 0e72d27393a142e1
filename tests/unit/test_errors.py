"""pytasks.errors: the one table of error classes, gRPC codes and exit codes
(docs/architecture.md §6)."""

from __future__ import annotations

import inspect

import pytest

from pytasks import errors
from pytasks.errors import Code, ExitCode, PytasksError

CLASSES = sorted((obj for obj in vars(errors).values()
                  if inspect.isclass(obj) and issubclass(obj, PytasksError)),
                 key=lambda c: c.__name__)

# The documented families: the direct children of PytasksError and their codes.
FAMILIES: dict[type[PytasksError], tuple[Code, int]] = {
    errors.InvalidArgumentError: (Code.INVALID_ARGUMENT, 2),
    errors.NotFoundError: (Code.NOT_FOUND, 3),
    errors.AlreadyExistsError: (Code.ALREADY_EXISTS, 4),
    errors.FailedPreconditionError: (Code.FAILED_PRECONDITION, 5),
    errors.UnavailableError: (Code.UNAVAILABLE, 6),
    errors.PermissionDeniedError: (Code.PERMISSION_DENIED, 7),
    errors.UnimplementedError: (Code.UNIMPLEMENTED, 8),
    errors.RuntimeFailedError: (Code.UNKNOWN, 1),
    errors.InternalError: (Code.INTERNAL, 1),
    errors.DataLossError: (Code.DATA_LOSS, 1),
}
# Exit codes of attached verbs (docker/podman) a subclass may use instead of its family's.
ATTACHED_EXIT_CODES = {ExitCode.ATTACH_FAILED, ExitCode.CANNOT_INVOKE,
                       ExitCode.COMMAND_NOT_FOUND}


def family(cls: type[PytasksError]) -> type[PytasksError]:
    """The direct child of PytasksError that cls descends from."""
    return cls.__mro__[cls.__mro__.index(PytasksError) - 1]


def test_every_class_in_the_module_has_its_own_row() -> None:
    assert len(CLASSES) > len(FAMILIES)
    assert set(errors.ERROR_TABLE) == set(CLASSES)


def test_every_class_is_in_a_documented_family() -> None:
    assert {family(cls) for cls in CLASSES if cls is not PytasksError} == set(FAMILIES)


@pytest.mark.parametrize("cls", list(FAMILIES), ids=lambda c: c.__name__)
def test_family_codes_are_the_documented_ones(cls: type[PytasksError]) -> None:
    err = cls("boom")
    assert (err.code, int(err.exit_code)) == FAMILIES[cls]
    assert str(err) == err.message == "boom"


@pytest.mark.parametrize("cls", [c for c in CLASSES if c is not PytasksError],
                         ids=lambda c: c.__name__)
def test_subclasses_keep_their_family_code(cls: type[PytasksError]) -> None:
    err, fam = cls("x"), family(cls)
    # the gRPC code stays in the family (DeadlineExceeded and ResourceExhausted, both
    # Unavailable's exit code, are the finer codes) ...
    assert err.code == FAMILIES[fam][0] or (cls, err.code) in (
        (errors.DeadlineExceededError, Code.DEADLINE_EXCEEDED),
        (errors.ResourceExhaustedError, Code.RESOURCE_EXHAUSTED))
    # ... and so does the exit code, unless it is one of the attached-verb codes
    assert int(err.exit_code) == FAMILIES[fam][1] or err.exit_code in ATTACHED_EXIT_CODES


def test_exit_codes_identify_one_family() -> None:
    by_exit: dict[int, set[Code]] = {}
    for code, exit_code in FAMILIES.values():
        by_exit.setdefault(exit_code, set()).add(code)
    # 1 is "runtime/internal failure" (several codes); every other exit code is one family
    assert by_exit.pop(1) == {Code.UNKNOWN, Code.INTERNAL, Code.DATA_LOSS}
    assert all(len(codes) == 1 for codes in by_exit.values())
    assert sorted(by_exit) == [2, 3, 4, 5, 6, 7, 8]


def test_base_class_is_a_runtime_failure() -> None:
    err = PytasksError("x")
    assert (err.code, err.exit_code) == (Code.UNKNOWN, ExitCode.FAILURE)


def test_invalid_state_is_a_failed_precondition() -> None:
    err = errors.InvalidStateError("cannot start task in running state")
    assert isinstance(err, errors.FailedPreconditionError)
    assert err.exit_code == ExitCode.FAILED_PRECONDITION


def test_documented_exit_codes() -> None:
    assert (ExitCode.ATTACH_FAILED, ExitCode.CANNOT_INVOKE, ExitCode.COMMAND_NOT_FOUND,
            ExitCode.INTERRUPTED) == (125, 126, 127, 130)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_from_code_round_trip(cls: type[PytasksError]) -> None:
    """What a monitor sends (code name or number) comes back with the same gRPC code; for
    a family's own class, as that very class."""
    err = cls("message text")
    for wire in (err.code.name, int(err.code)):
        back = errors.from_code(wire, err.message)
        assert back.code == err.code
        assert back.message == "message text"
        assert isinstance(err, type(back))
        if cls in FAMILIES and cls is not errors.RuntimeFailedError:
            assert type(back) is cls


@pytest.mark.parametrize("wire", ["NO_SUCH_CODE", 99, -1, "", "ok"])
def test_from_code_of_garbage_is_unknown(wire: object) -> None:
    back = errors.from_code(wire, "m")  # type: ignore[arg-type]
    assert type(back) is PytasksError
    assert back.exit_code == ExitCode.FAILURE
