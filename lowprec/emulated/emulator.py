"""The Emulator: the arithmetic object handed to a model (format, mode, seed, components, counter).

    emu = Emulator(Format(10), mode="stochastic", seed=7, components={"physics": Format(23)})
    x = emu.asarray(np.linspace(0, 1, 5))       # an EmulatedArray: every numpy op on it is rounded
    with emu.component("physics"):
        y = x * 3.0 + 1.0                       # rounded to 23 sbits here

Semantics:
- The *active* format and mode are those of the innermost `with emu.component(name)` (the base
  format and mode outside any). Every emulated operation rounds its result to the active format.
  Operands are not re-rounded: an array computed under a wider component keeps its bits when it
  enters a narrower one (as rpe rounds results, not reads).
- Values that are not EmulatedArrays (Python and numpy scalars, lists, plain ndarrays) are
  constants: each one is rounded to the active format when it enters an operation, in the
  active mode (stochastic rounding too), taking a counter value like any rounding.
  Considered and kept (2026-11): rounding constants to nearest under stochastic rounding, as
  rpe converts them (a literal is a value, not an operation's result). It would change the bits
  of every stochastic run, and buys little speed: constants that the format holds exactly (2,
  0.5, 280.0: the ones in model loops) round to themselves whatever the random bits, so they
  are cached in every mode; inexact ones (1/12, 8/3, Δt/6) are entered once, through `const`
  in a model's constructor. Rounded scalar constants are cached per component; the counter
  advances all the same, so a cached constant leaves every later bit unchanged.
- The operation counter: every rounding (an operation's result, one constant entering, one whole
  compound operation) takes the next counter value, and stochastic rounding draws the bits of
  element i from randombits.mix(seed, counter, i). `get_state()` / `set_state()` save and restore
  the counter: a restarted run is bit-identical. Not thread-safe: one emulator per thread.
- An emulator whose every format is float64 is plain numpy: `asarray` and `const` give ndarrays.

Speed: arithmetic operators and common ufunc calls (EmulatedArrays of one emulator, float and
int scalars, no keywords) take a fast path in `array.py` that gives the general path's bits and
counter values (tests/test_emulated_fastpath.py): numpy computes the result, which is rounded in
place by one call of `kernels.round_in_place` with the active component's cached arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from lowprec.components import ComponentNames
from lowprec.emulated import roundop
from lowprec.emulated.array import EmulatedArray
from lowprec.errors import ConfigError, FormatError, NotEmulatedError
from lowprec.formats import Format, as_format
from lowprec.rounding import MODE_CODES, MODES, kernels, mode_code
from lowprec.rounding.backends import get_backend
from lowprec.rounding.randombits import as_uint64, mix

__all__ = ["Emulator", "ComponentSetting", "POLICIES"]

POLICIES = ("fused", "sequential")
_STOCHASTIC = MODE_CODES["stochastic"]
_U0 = np.uint64(0)
_F64 = np.dtype(np.float64)
# The numba kernels under kernels.round_array, for whole arrays: in place, and into another
_ROUND_IN_PLACE = kernels.round_in_place
_ROUND_INTO = kernels.round_into
_CONST_CACHE_SIZE = 4096    # rounded constants kept per component (a bound: forcing varies)


@dataclass(frozen=True)
class ComponentSetting:
    """The format and rounding mode of one precision component."""

    fmt: Format
    mode: str

    def __str__(self) -> str:
        return f"{self.fmt}, {self.mode}"


class _Switch:
    """`with emu.component(name)`: a plain class (cheaper than a generator context manager; a
    model switches components a few times per step). Re-entrant: the emulator keeps the stack."""

    __slots__ = ("_emu", "_active")

    def __init__(self, emu: "Emulator", active: "_Active") -> None:
        self._emu = emu
        self._active = active

    def __enter__(self) -> None:
        emu = self._emu
        emu._stack.append(emu._active)
        emu._active = self._active

    def __exit__(self, *exc: Any) -> None:
        emu = self._emu
        emu._active = emu._stack.pop()


class _Active:
    """The rounding in force: precomputed so that each operation reads attributes, no more.

    One per component (and one for the base format), made once and kept: `round_args` are the
    arguments of `kernels.round_into` but the counter, `params` those of `round_in_place`, and
    `consts` caches rounded constants; `flavour` selects the sequential kernels (`roundop`).
    """

    __slots__ = ("name", "fmt", "mode", "mode_code", "kernel_args", "exact", "round_args",
                 "params", "consts", "deterministic", "flavour")

    def __init__(self, name: str | None, setting: ComponentSetting, seed: int) -> None:
        self.name = name
        self.fmt = setting.fmt
        self.mode = setting.mode
        self.mode_code = MODE_CODES[setting.mode]
        self.kernel_args = setting.fmt.kernel_args()
        self.exact = setting.fmt.is_float64          # rounding to float64 changes nothing
        self.round_args = (*self.kernel_args, self.mode_code, seed)
        self.params = kernels.round_params(self.fmt, self.mode_code, seed)
        self.flavour = roundop.flavour(self.params)      # the sequential kernels' variant
        self.deterministic = self.mode_code != _STOCHASTIC
        # constant -> rounded value. Deterministic modes: any constant. Stochastic rounding: only
        # constants the format holds exactly (those round to themselves whatever the random bits).
        self.consts: dict[Any, float] = {}

    def describe(self) -> str:
        where = "the base format" if self.name is None else f"component {self.name!r}"
        return f"{where} ({self.fmt}, {self.mode})"


def _check_mode(mode: Any, where: str) -> str:
    if mode not in MODES:
        raise FormatError(f"{where}: unknown rounding mode {mode!r}; known: {', '.join(MODES)}")
    return mode


def _component_setting(name: str, spec: Any, base_mode: str) -> ComponentSetting:
    """A component's format and mode from a Format, an int sbits, a preset name or a dict."""
    if isinstance(spec, ComponentSetting):
        return spec
    mode = base_mode
    if isinstance(spec, Mapping):
        spec = dict(spec)
        mode = _check_mode(spec.pop("mode", base_mode), f"component {name!r}")
    try:
        fmt = as_format(spec)
    except (FormatError, TypeError) as err:
        raise FormatError(f"component {name!r}: {err}") from None
    return ComponentSetting(fmt, mode)


class Emulator(ComponentNames):
    """Emulated low-precision arithmetic: the object a model is given (see the module doc).

    fmt: the base format (a Format, int sbits, preset name or dict; see `as_format`).
    mode: the base rounding mode, one of lowprec.MODES.
    seed: int in [0, 2**64), required when any component rounds stochastically.
    components: {name: Format | int sbits | preset | dict(sbits=, ebits=, subnormals=, mode=)}:
        per-component overrides of the base format (and mode), like rpe's per-module precision.
    policy: "fused" (sums, matmuls, einsums, FFTs exact in float64 inside, one rounding at the
        end) or "sequential" (every multiply and add rounded, left to right).
    backend: rounding backend for element-wise results: "numba" (default) or "numpy".
    """

    def __init__(self, fmt: Format | int | str | dict, mode: str = "nearest",
                 seed: int | None = None, components: Mapping[str, Any] | None = None,
                 policy: str = "fused", backend: str = "numba") -> None:
        self.fmt = as_format(fmt)
        self.mode = _check_mode(mode, "Emulator")
        if policy not in POLICIES:
            raise ConfigError(f"policy {policy!r}: allowed {', '.join(POLICIES)} (fused: one "
                              f"rounding per compound result; sequential: every operation)")
        self.policy = policy
        self.backend = backend
        self._round_array = get_backend(backend)
        self._base = ComponentSetting(self.fmt, self.mode)
        self._configured = {str(name): _component_setting(str(name), spec, self.mode)
                            for name, spec in (components or {}).items()}
        ComponentNames.__init__(self)
        stochastic = [n for n, s in self._all_settings() if s.mode == "stochastic"]
        if stochastic and seed is None:
            raise ConfigError(f"stochastic rounding ({', '.join(stochastic)}) needs a seed: "
                              f"pass seed= (an int in [0, 2**64))")
        self.seed = None if seed is None else as_uint64("seed", seed)
        self._seed = 0 if seed is None else self.seed
        self.is_float64 = all(s.fmt.is_float64 for _, s in self._all_settings())
        self._active = _Active(None, self._base, self._seed)
        self._stack: list[_Active] = []
        self._switches: dict[str, _Switch] = {}
        self._fast = backend == "numba"        # the in-place kernel call in `_round_new`
        self.counter = 0

    def _all_settings(self) -> list[tuple[str, ComponentSetting]]:
        return [("base", self._base)] + list(self._configured.items())

    def __repr__(self) -> str:
        parts = [f"{self.fmt}", f"mode={self.mode!r}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self._configured:
            parts.append("components={" + ", ".join(f"{n!r}: {s}" for n, s in
                                                     self._configured.items()) + "}")
        parts.append(f"policy={self.policy!r}")
        return "Emulator(" + ", ".join(parts) + ")"

    # --- components --------------------------------------------------------------------------
    @property
    def components(self) -> dict[str, ComponentSetting]:
        """The configured overrides, name -> ComponentSetting(fmt, mode) (a copy)."""
        return dict(self._configured)

    def setting(self, name: str) -> ComponentSetting:
        """Component `name`'s format and mode; FormatError listing the known names if unknown."""
        if name in self._configured:
            return self._configured[name]
        self.require_known(name, "; overrides are configured with "
                                 "Emulator(..., components={name: format})")
        return self._base

    def component(self, name: str) -> _Switch:
        """Within this block, results are rounded to component `name`'s format and mode.

        (A context manager; FormatError for an unknown name, listing the known ones.)
        """
        switch = self._switches.get(name)
        if switch is None:
            switch = _Switch(self, _Active(name, self.setting(name), self._seed))
            self._switches[name] = switch
        return switch

    @property
    def active(self) -> tuple[str | None, Format, str]:
        """(component name or None for the base, format, mode) in force now."""
        return self._active.name, self._active.fmt, self._active.mode

    # --- entering and leaving ----------------------------------------------------------------
    def asarray(self, x: Any) -> EmulatedArray | np.ndarray:
        """An array whose numpy operations are rounded: `x` rounded to the active format on entry.

        An EmulatedArray of this emulator is returned as is. A float64 emulator returns a plain
        float64 ndarray (a copy), so the control run is plain numpy.
        """
        if isinstance(x, EmulatedArray):
            self._check_same(x)
            return x
        if self.is_float64:
            data = np.array(x)
            return data.astype(np.complex128 if np.iscomplexobj(data) else np.float64)
        if type(x) is float or type(x) is int:
            # a scalar (forcing entering each step): the same bits as a 0-d array, and cached
            return EmulatedArray(np.array(self._scalar(x)), self)
        return EmulatedArray(self._enter(x, copy=True), self)

    def const(self, x: Any) -> EmulatedArray | np.ndarray | np.float64:
        """A constant (scalar or array) rounded once to the active format: a 0-d EmulatedArray
        for a scalar, so that arithmetic on it stays emulated (np.float64 for a float64 emulator).
        """
        if self.is_float64:
            a = self.asarray(x)
            return a[()] if a.ndim == 0 else a
        return self.asarray(x)

    def to_float64(self, x: Any) -> np.ndarray:
        """Leave emulation explicitly: a plain float64 (complex128) ndarray copy of the values."""
        if isinstance(x, EmulatedArray):
            return x._data.copy()
        data = np.array(x)
        return data.astype(np.complex128 if np.iscomplexobj(data) else np.float64)

    # --- state -------------------------------------------------------------------------------
    def get_state(self) -> dict:
        """{"counter": int}: what a restart needs to reproduce stochastic rounding bit for bit."""
        return {"counter": self.counter}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from `get_state` (only "counter" is read)."""
        try:
            counter = state["counter"]
        except (KeyError, TypeError):
            raise ValueError(f"emulator state {state!r} has no 'counter'; pass what "
                             f"get_state() returned") from None
        self.counter = as_uint64("counter", counter)

    # --- the rounding itself (used by array.py, rules.py, compound.py) -------------------------
    def _check_same(self, x: EmulatedArray) -> None:
        if x._emu is not self:
            raise NotEmulatedError(
                f"an operation mixes arrays of two emulators ({x._emu!r} and {self!r}); "
                f"move one over explicitly: emu.asarray(other_emu.to_float64(x))")

    def _round(self, raw: np.ndarray) -> np.ndarray:
        """`raw` (float64 or complex128 ndarray) rounded to the active format: one operation."""
        n = self.counter
        self.counter = n + 1
        act = self._active
        if act.exact:
            return raw
        if self._fast and raw.dtype == np.float64:
            # the numba kernel called directly: round_array's own argument handling costs
            # several times the rounding of a 61-element array (same kernel, same bits)
            x = raw if raw.flags.c_contiguous else np.ascontiguousarray(raw)
            out = np.empty_like(x)
            _ROUND_INTO(x, out, *act.round_args, n)
            return out
        if raw.dtype == np.float64:
            return self._round_array(raw, act.fmt, act.mode_code, self._seed, n,
                                     0).reshape(raw.shape)
        if raw.dtype == np.complex128:            # real and imaginary parts as (re, im) pairs
            pairs = np.ascontiguousarray(raw).view(np.float64)
            return self._round_array(pairs, act.fmt, act.mode_code, self._seed, n,
                                     0).view(np.complex128).reshape(raw.shape)
        raise NotEmulatedError(f"an emulated operation produced dtype {raw.dtype}; emulated "
                               f"arrays hold float64 or complex128 values")

    def _round_new(self, raw: np.ndarray) -> EmulatedArray:
        """A fresh ufunc result (ours to overwrite) rounded in place and wrapped: one operation.

        Same bits and counter as `_round`; the common case (float64, C order, numba backend) is
        one direct kernel call with the active component's cached arguments.
        """
        if type(raw) is not np.ndarray:
            raw = np.asarray(raw)                 # 0-d results come back as numpy scalars
        act = self._active
        if raw.dtype is _F64 and self._fast:
            n = self.counter
            self.counter = n + 1
            if act.exact:
                return EmulatedArray(raw, self)
            if raw.flags.c_contiguous:
                _ROUND_IN_PLACE(raw, act.params, n)
                return EmulatedArray(raw, self)
            self.counter = n                      # (F order: the general path below)
        rounded = self._round(raw)
        if rounded.dtype.kind not in "fc":
            raise self._refuse(f"an emulated operation giving dtype {rounded.dtype}")
        return EmulatedArray(rounded, self)

    def _scalar(self, x: float | int) -> float:
        """A Python/numpy float or Python int entering an operation: rounded (one operation),
        as a Python float. Rounded constants are cached per component (see `_Active.consts`)."""
        n = self.counter
        self.counter = n + 1
        act = self._active
        if act.exact:
            return float(x)
        consts = act.consts
        rounded = consts.get(x)
        if rounded is not None:
            return rounded
        # numba hands a uint64 back as a Python int: make it a uint64 again for the kernel
        rbits = _U0 if act.deterministic else np.uint64(mix(self._seed, n, 0))
        rounded = kernels.round_scalar(float(x), *act.kernel_args, act.mode_code, rbits)
        # ±0 share a dict key (0 == -0.0) and NaN never matches itself: those are not kept
        if (x != 0 and x == x and len(consts) < _CONST_CACHE_SIZE
                and (act.deterministic or rounded == x)):
            consts[x] = rounded
        return rounded

    def _enter(self, x: Any, copy: bool = False) -> np.ndarray:
        """A constant entering an operation: as a float64/complex128 array, rounded (one op)."""
        if not copy and (isinstance(x, float) or type(x) is int):
            return self._scalar(x)
        data = np.asarray(x)
        kind = data.dtype.kind
        if kind in "fiub":
            data = data.astype(np.float64, copy=copy)
        elif kind == "c":
            data = data.astype(np.complex128, copy=copy)
        else:
            raise TypeError(f"cannot enter {x!r} (dtype {data.dtype}) into emulated arithmetic: "
                            f"numbers only")
        return self._round(data)

    def _sequential_args(self) -> tuple[tuple, int, int, int]:
        """(kernel_args, mode_code, seed, counter) for one sequential compound operation."""
        n = self.counter
        self.counter = n + 1
        act = self._active
        return act.kernel_args, act.mode_code, self._seed, n

    def _sequential_params(self) -> tuple[np.ndarray, int, int]:
        """(packed rounding parameters, counter, flavour) for one sequential compound operation:
        the arguments of the sequential kernels (`kernels.round_params` of the active component,
        its `roundop.flavour`)."""
        n = self.counter
        self.counter = n + 1
        act = self._active
        return act.params, n, act.flavour

    def _refuse(self, what: str, hint: str | None = None) -> NotEmulatedError:
        """The error for an operation without an emulation rule (to raise)."""
        message = (f"{what} has no emulation rule, so it would run in float64 inside "
                   f"{self._active.describe()}.")
        if hint:
            message += f" {hint[0].upper()}{hint[1:]}."
        message += (" Add a rule in lowprec/emulated/rules.py, or leave emulation explicitly "
                    "with emu.to_float64(x).")
        return NotEmulatedError(message)

