"""Value classes declared once, by their annotations, without dataclasses. Imports nothing,
so the monitor may use it too.

`dataclasses` imports inspect, ast, dis and tokenize on every CLI call, and each
@dataclass compiles its methods at import (docs/architecture.md §8). A value class here is
written as a dataclass would be, and nothing else repeats its field list:

    class Limits(Plain, frozen=True):
        memory_limit: int | None = None
        cpus: float | None = None

The class body's annotations (in order) are its fields; a plain default follows the
annotation, a mutable one is `field(default_factory=dict)`, and `field(compare=False)`
keeps a derived field out of repr, equality and hash. The class gets __slots__ of its
fields (a body that declares __slots__, e.g. ("__dict__",) for cached_property, gets
its fields added), an __init__ taking them positionally or by name, then __post_init__
when defined; __eq__ and __repr__ as @dataclass makes them (so unhashable), and with
frozen=True, __hash__ and refusal of assignment, as @dataclass(frozen=True).
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[type], type]:
        return lambda cls: cls


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """What field() returns: read once, when the class is made."""

    __slots__ = ("compare", "default", "default_factory")

    def __init__(self, default: object, default_factory: Callable[[], object] | None,
                 compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True) -> Any:
    """A field's default when it is mutable (default_factory) or when the field is left out
    of repr, equality and hash (compare=False), as dataclasses.field."""
    if default is not MISSING and default_factory is not None:
        raise TypeError("field() takes default or default_factory, not both")
    return Field(default, default_factory, compare)


def _is_classvar(annotation: object) -> bool:
    return isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar"))


def _frozen_hash(self: Plain) -> int:
    return hash(self._values())


def _refuse_set(self: Plain, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Plain, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r}")


@dataclass_transform(field_specifiers=(field,))
class _ValueMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                frozen: bool = False) -> _ValueMeta:
        fields: list[str] = []
        compared: list[str] = []
        defaults: dict[str, object] = {}
        factories: dict[str, Callable[[], object]] = {}
        for base in bases:  # inherited fields come first, as in dataclasses
            fields += getattr(base, "_init_fields", ())
            compared += getattr(base, "_fields", ())
            defaults.update(getattr(base, "_defaults", {}))
            factories.update(getattr(base, "_factories", {}))
        own: list[str] = []
        for attr, annotation in namespace.get("__annotations__", {}).items():
            if _is_classvar(annotation) or attr in fields:
                continue
            own.append(attr)
            value = namespace.pop(attr, MISSING)  # a class attribute would shadow the slot
            compare = True
            if isinstance(value, Field):
                compare = value.compare
                if value.default_factory is not None:
                    factories[attr] = value.default_factory
                value = value.default
            if isinstance(value, (list, dict, set)):
                raise TypeError(f"{name}.{attr}: mutable default, use field(default_factory=…)")
            if value is not MISSING:
                defaults[attr] = value
            elif attr not in factories and any(f in defaults or f in factories for f in fields):
                raise TypeError(f"{name}.{attr}: a field without a default follows one with")
            fields.append(attr)
            if compare:
                compared.append(attr)
        namespace["__slots__"] = (*namespace.get("__slots__", ()), *own)
        namespace["_init_fields"] = tuple(fields)
        namespace["_fields"] = tuple(compared)
        namespace["_defaults"] = defaults
        namespace["_factories"] = factories
        if frozen:
            namespace.update(__hash__=_frozen_hash, __setattr__=_refuse_set,
                             __delattr__=_refuse_delete)
        return super().__new__(mcls, name, bases, namespace)


class Plain(metaclass=_ValueMeta):
    """The base of every value class (see the module docstring)."""

    __slots__ = ()
    # Set by the metaclass on each class.
    _init_fields: ClassVar[tuple[str, ...]] = ()  # every field, in __init__'s order
    _fields: ClassVar[tuple[str, ...]] = ()       # the compared and shown ones
    _defaults: ClassVar[dict[str, object]] = {}
    _factories: ClassVar[dict[str, Callable[[], object]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = self.__class__
        names = cls._init_fields
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, "
                            f"{len(args)} given")
        set_field = object.__setattr__  # frozen classes refuse setattr
        for name, value in zip(names, args, strict=False):  # len checked above
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got two values for {name!r}")
            set_field(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                set_field(self, name, kwargs.pop(name))
            elif name in cls._defaults:
                set_field(self, name, cls._defaults[name])
            elif name in cls._factories:
                set_field(self, name, cls._factories[name]())
            else:
                raise TypeError(f"{cls.__name__}() is missing argument {name!r}")
        if kwargs:
            raise TypeError(f"{cls.__name__}() got an unexpected argument "
                            f"{next(iter(kwargs))!r}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plain) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # equal by value, so unhashable unless frozen

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({values})"
