"""Value classes without dataclasses. Imports nothing, so the monitor may use it too.

`dataclasses` imports inspect, ast, dis and tokenize on every CLI call, and each
@dataclass compiles its methods at import. A value class here names its fields in
_fields (the order of repr and comparison), lists its attributes in __slots__ and writes
its own __init__; Plain and Frozen give it a dataclass's __eq__ and __repr__ (and, for
Frozen, __hash__ and refusal of assignment, as @dataclass(frozen=True)).
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class Plain:
    """__eq__ and __repr__ over _fields, as @dataclass makes them (and so unhashable)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plain) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({values})"


class Frozen(Plain):
    """Plain, immutable and hashable over _fields: __init__ sets fields with _init."""

    __slots__ = ()

    def _init(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())
