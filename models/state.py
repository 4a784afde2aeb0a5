"""FieldState: frozen dataclasses of arrays that add and scale field by field (for steppers).

Subclass it with array fields only::

    @dataclass(frozen=True)
    class L63State(FieldState):
        x: np.ndarray   # (particle,)
        y: np.ndarray
        z: np.ndarray

Then ``a + b``, ``a - b``, ``c * a`` and ``a * c`` (``c`` a scalar constant) make new states,
each field computed with one numpy operation, so under emulation each is one rounded operation
per element. Fields keep their array type (plain ndarray or the emulator's array).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

S = TypeVar("S", bound="FieldState")


@dataclass(frozen=True)
class FieldState:
    """Base class: every dataclass field is an array; arithmetic acts on each field alone."""

    # Opt out of numpy's operator dispatch, so that `constant * state` with a numpy scalar or an
    # emulated array on the left returns NotImplemented there and reaches __rmul__ here.
    __array_ufunc__ = None

    def _map(self: S, op: Any) -> S:
        return type(self)(**{f.name: op(getattr(self, f.name)) for f in fields(self)})

    def _zip(self: S, other: S, op: Any) -> S:
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(**{f.name: op(getattr(self, f.name), getattr(other, f.name))
                             for f in fields(self)})

    def __add__(self: S, other: S) -> S:
        return self._zip(other, lambda a, b: a + b)

    def __sub__(self: S, other: S) -> S:
        return self._zip(other, lambda a, b: a - b)

    def __mul__(self: S, c: Any) -> S:
        if isinstance(c, FieldState):
            return NotImplemented           # fieldwise products of states are not a stepper's need
        return self._map(lambda a: c * a)   # scalar first: c * a and a * c round identically

    __rmul__ = __mul__

    def __neg__(self: S) -> S:
        return self._map(lambda a: -a)
