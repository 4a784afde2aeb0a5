"""The small protocol every model follows, and the float64 arithmetic that is plain numpy.

A model is a class built from a frozen parameter dataclass and an *arithmetic object* (the
emulator). It never chooses its precision: every constant enters through ``emu.const``, every
initial field through ``emu.asarray``, and whole parts of the step run inside
``with emu.component(name):``. The same code with :class:`Float64` is the double-precision control.

Protocol (duck-typed; see :class:`Model`):

- ``name``: registry name (``"lorenz63"``, ``"heat"``, ``"shallow_water"``, ``"gcm"``).
- ``Params``: frozen dataclass of parameters with the spec's defaults (units in comments).
- ``COMPONENTS``: names of the precision components the model uses (e.g. ``("tendencies",
  "prognostic")``). The model calls ``emu.declare_components(COMPONENTS)`` in its constructor.
- ``OUTPUTS``: tuple of :class:`Output`, the variables the model can write, with CF metadata.
- ``dt``: time step, in seconds for physical models; in model time units when ``time_units`` is
  ``"1"`` (Lorenz-63).
- ``initial_state(seed) -> state``: a seeded initial state, already entered through the emulator.
- ``step(state) -> state``: one time step; returns a new state.
- ``coords() -> dict``: the non-time output coordinates, name -> (dims, float64 values, attrs).
- ``diagnostics(state) -> dict``: output name -> float64 numpy array, computed in float64 from
  ``emu.to_float64`` copies (never under emulation: writing output must not change a run, and
  must not advance the stochastic-rounding counter).
- ``state_arrays(state) -> dict`` and ``state_from_arrays(dict) -> state``: the full state as
  named float64 arrays, exact both ways (a restart also stores the emulator's state).
- ``state_description() -> dict``: each state array's (dims, CF attributes: long_name, units),
  so that a restart file says what it holds.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol

import numpy as np


class Arithmetic(Protocol):
    """What a model may ask of the arithmetic it is given (``lowprec.Emulator`` is one)."""

    def const(self, x: Any) -> Any:
        """A constant (scalar or array), rounded once to the active format as it enters."""

    def asarray(self, x: Any) -> Any:
        """An array whose every numpy operation is rounded to the active format."""

    def to_float64(self, x: Any) -> np.ndarray:
        """Leave emulation explicitly: a plain float64 (complex128) ndarray with the same values."""

    def component(self, name: str) -> contextlib.AbstractContextManager:
        """Context in which the named component's format (and mode) is active."""

    def declare_components(self, names: Iterable[str]) -> None:
        """Register the component names a model uses (unknown names are then an error)."""

    def get_state(self) -> dict: ...

    def set_state(self, state: dict) -> None: ...


class Float64:
    """Double precision: plain numpy, no rounding, no overhead. The control run's arithmetic."""

    sbits = 52

    def const(self, x: Any) -> Any:
        a = self.asarray(x)
        return a[()] if a.ndim == 0 else a

    def asarray(self, x: Any) -> np.ndarray:
        # complex stays complex (spectral coefficients, i·m), as the emulator keeps it
        a = np.array(x)
        return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)

    def to_float64(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64, copy=False)

    @contextlib.contextmanager
    def component(self, name: str) -> Iterator[None]:
        yield

    def declare_components(self, names: Iterable[str]) -> None:
        pass

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


FLOAT64 = Float64()


@dataclass(frozen=True)
class Output:
    """One output variable and its CF metadata; ``dims`` exclude nothing: ``time`` comes first."""

    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    standard_name: str | None = None
    cell_methods: str | None = None
    units_metadata: str | None = None   # CF-1.11, for temperatures: "temperature: on_scale"
    # default output interval (a duration, e.g. "1 day"): written as means over it of the values
    # at the run's output_interval when it is a whole multiple of it (the harness decides)
    interval: str | None = None

    def attrs(self) -> dict[str, str]:
        keys = ("units", "long_name", "standard_name", "cell_methods", "units_metadata")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class Model(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type]
    COMPONENTS: ClassVar[tuple[str, ...]]
    OUTPUTS: ClassVar[tuple[Output, ...]]
    time_units: ClassVar[str]           # "s" for physical models, "1" for Lorenz-63
    dt: float

    def __init__(self, params: Any, emu: Arithmetic = FLOAT64) -> None: ...
    def initial_state(self, seed: int) -> Any: ...
    def step(self, state: Any) -> Any: ...
    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]: ...
    def diagnostics(self, state: Any) -> dict[str, np.ndarray]: ...
    def state_arrays(self, state: Any) -> dict[str, np.ndarray]: ...
    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> Any: ...
    def state_description(self) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]: ...


REGISTRY: dict[str, Callable[[], type]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a model to the registry by name."""
    def add(cls: type) -> type:
        REGISTRY[name] = lambda: cls
        return cls
    return add
