"""pytasks.plain: value classes declared once by their annotations, as dataclasses are."""

from __future__ import annotations

import subprocess
import sys
from functools import cached_property

import pytest

from pytasks.plain import Plain, field


class Point(Plain):
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    cache: str | None = field(default=None, compare=False)


class Frozen(Plain, frozen=True):
    name: str
    size: int = 1


def test_init_takes_fields_in_order_or_by_name() -> None:
    assert Point(1, 2).y == 2
    assert Point(y=3, x=1) == Point(1, 3)
    p = Point(1)
    assert (p.x, p.y, p.tags, p.cache) == (1, 0, [], None)


def test_each_instance_gets_its_own_factory_value() -> None:
    a, b = Point(1), Point(2)
    a.tags.append("t")
    assert b.tags == []


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "Point() is missing argument 'x'"),
    ((1, 2, [], None, 5), {}, "Point() takes 4 arguments, 5 given"),
    ((1,), {"x": 2}, "Point() got two values for 'x'"),
    ((1,), {"z": 2}, "Point() got an unexpected argument 'z'"),
])
def test_bad_arguments_are_type_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError) as info:
        Point(*args, **kwargs)
    assert str(info.value) == message


def test_repr_and_equality_skip_uncompared_fields() -> None:
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"
    assert Point(1, cache="a") == Point(1, cache="b")
    assert Point(1) != Point(2)
    assert Point(1) != Frozen("a")
    assert Point.__eq__(Point(1), (1, 0, [])) is NotImplemented


def test_mutable_classes_are_unhashable_and_slotted() -> None:
    p = Point(1)
    with pytest.raises(TypeError):
        hash(p)
    p.y = 5
    assert p.y == 5
    assert not hasattr(p, "__dict__")
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]


def test_frozen_classes_refuse_assignment_and_hash_by_value() -> None:
    f = Frozen("a")
    with pytest.raises(AttributeError, match="cannot assign to field 'size'"):
        f.size = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'name'"):
        del f.name  # type: ignore[misc]
    assert hash(Frozen("a", 1)) == hash(Frozen("a")) and {Frozen("a"), Frozen("a")} == {f}


def test_declared_slots_are_kept_and_post_init_runs() -> None:
    class WithDict(Plain):
        __slots__ = ("__dict__",)
        base: int

        def __post_init__(self) -> None:
            self.base *= 10

        @cached_property
        def double(self) -> int:
            return self.base * 2

    w = WithDict(2)
    assert (w.base, w.double, w.__dict__) == (20, 40, {"double": 40})
    assert WithDict.__slots__ == ("__dict__", "base")


def test_class_definitions_are_checked() -> None:
    with pytest.raises(TypeError, match="mutable default"):
        class Bad(Plain):
            items: list[int] = []  # noqa: RUF012 - the mistake under test
    with pytest.raises(TypeError, match="without a default follows one with"):
        class Order(Plain):
            a: int = 0
            b: int


def test_imports_nothing() -> None:
    """The monitor and the fast path use it: no typing, no dataclasses, nothing else."""
    code = ("import sys; before = set(sys.modules); import pytasks.plain; "
            "print(sorted(set(sys.modules) - before - {'pytasks', 'pytasks.plain', '__future__'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
