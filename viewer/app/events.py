"""Change events without Qt: a tiny signal, and a field that emits one when its value changes.

napari's pattern, kept small: a plain-Python state object owns the values and an event per value; Qt widgets and
controllers connect to the events and update themselves, so nothing reaches into another widget. Callbacks run on
the thread that changed the value (in RadCAM, always the UI thread: job results arrive there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import numpy as np

T = TypeVar("T")


class Event(Generic[T]):
    """Callbacks called with the new value, in the order they connected."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[Callable[[T], None]] = []

    def connect(self, callback: Callable[[T], None]) -> Callable[[T], None]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[T], None]) -> None:
        self._callbacks.remove(callback)

    def emit(self, value: T) -> None:
        for callback in list(self._callbacks):
            callback(value)

    def __len__(self) -> int:
        return len(self._callbacks)


def same(old: object, new: object) -> bool:
    """Whether setting `new` over `old` changes nothing: the same object, or equal plain values (an array, or a
    value holding one, compares by identity: elementwise == says nothing about 'unchanged')."""
    if old is new:
        return True
    if isinstance(old, np.ndarray) or isinstance(new, np.ndarray):
        return False  # not `==`: that compares every pixel of a new base (each window/level redraw) to be ignored
    try:
        return bool(old == new)
    except (ValueError, TypeError):  # numpy: the truth value of an array is ambiguous
        return False


class HasEvents:
    """A state object whose `field()`s emit `self.events[name]` on change."""

    def __init__(self) -> None:
        self.events: dict[str, Event[Any]] = {}
        for klass in reversed(type(self).__mro__):  # a subclass adds fields to its bases'
            for name, value in vars(klass).items():
                if isinstance(value, field):
                    self.events[name] = Event(name)

    def connect(self, name: str, callback: Callable[[Any], None]) -> None:
        self.events[name].connect(callback)


class field(Generic[T]):
    """A value of a HasEvents object; assigning a different value emits the field's event with it."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> field[T]: ...

    @overload
    def __get__(self, obj: HasEvents, owner: type) -> T: ...

    def __get__(self, obj: HasEvents | None, owner: type) -> field[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: HasEvents, value: T) -> None:
        old = obj.__dict__.get(self.name, self.default)
        obj.__dict__[self.name] = value
        if not same(old, value):
            obj.events[self.name].emit(value)
