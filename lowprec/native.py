"""Native arithmetic: a model run in the numpy dtype of its format, rounded by the hardware.

    arith = NativeArithmetic("float32")         # or Format(10, 5), "bfloat16", Format(2, 5) ...
    x = arith.asarray(np.linspace(0, 1, 5))     # a plain float32 ndarray
    y = x * arith.const(0.1) + 1.0              # numpy's float32 arithmetic, nothing emulated

The object a model is handed, like :class:`lowprec.Emulator` (``models.base.Arithmetic``:
``const``, ``asarray``, ``to_float64``, ``component``, ``declare_components``, ``get_state``,
``set_state``), so models run unchanged. Arrays are plain ndarrays of the format's dtype: every
operation is numpy's own, at the hardware's speed (or ml_dtypes' C++ loops).

Formats with a native dtype (:data:`NATIVE_DTYPES`), round to nearest (ties to even) only:

    Format(52)          float64               plain numpy (the control run)
    Format(23, 8)       numpy float32         IEEE binary32
    Format(10, 5)       numpy float16         IEEE binary16
    Format(7, 8)        ml_dtypes.bfloat16
    Format(2, 5)        ml_dtypes.float8_e5m2
    Format(3, 4)        ml_dtypes.float8_e4m3 (IEEE-like e4m3: max 240, infinities)
    Format(4, 3)        ml_dtypes.float8_e3m4

Each of these follows lowprec's `Format` conventions exactly: the same finite values (largest
(2 - 2**-sbits)·2**emax, gradual underflow to 2**(emin - sbits)), overflow to ±inf, NaN, −0.
Not native, and why:

- ``float8_e4m3fn`` (OCP FP8, the usual "e4m3"): no infinities; the top exponent holds finite
  values up to 448 and overflow gives NaN. Its values up to 240 are Format(3, 4)'s, and its
  arithmetic agrees with Format(3, 4) while every result stays below 248 (where Format(3, 4)
  overflows) and no input is ±inf (tested); past that the formats differ, so it is no native
  dtype of any Format. Likewise ``*fnuz`` (no −0, one NaN, another bias) and ``float6``/``float4``
  (no inf).
- ``sbits`` without a dtype (12, say), float64's exponent range with fewer sbits (``Format(10)``
  is not float16: float16 has ebits 5), ``subnormals=False`` (numpy has no flush-to-zero
  dtype), and every mode but nearest (stochastic and directed rounding are not in numpy's
  arithmetic): a :class:`~lowprec.errors.FormatError` saying so; use the emulator.
- Per-component mixtures (``components={"tendencies": "float16"}`` over a float32 base):
  refused. numpy computes an operation on a float16 and a float32 array in float32 and does not
  round it to the active component, as the emulator does; a native mixture needs conversions
  written into the model, which models (handed their arithmetic) do not contain. Overrides that
  name the base format again are accepted.

Why native results equal the emulator's bit for bit: + − × ÷ and √ are correctly rounded in
IEEE hardware, and the emulator rounds the exact-enough float64 result once (exact emulation for
sbits ≤ 24). numpy's float16 ufuncs convert to float32, compute and round back; ml_dtypes' do
the same through float32: both are correctly rounded because float32 has 24 ≥ 2p + 2 significand
bits for p ≤ 11 (Figueroa 1995; tested on random pairs). Constants entering through
``const``/``asarray`` are rounded here with ``lowprec.round``, whatever ml_dtypes' casts do.
Python float literals in model code are cast by numpy to the array's dtype: correctly for
float32 and float16, but ml_dtypes 0.7.0 sends such a scalar operand through float32 (measured:
``bfloat16 array * (1 + 2**-8 + 2**-40)`` multiplies by 1.0, not 1.0078125), so an inexact
literal can be double-rounded; the models' literals (2, 0.5, 0.25) are exact, and inexact
constants enter through ``const``. (Its float64 ``astype`` is correctly rounded in 0.7.0.) A
numpy float64 *scalar* operand (``np.float64(x)``) promotes the result to float64 under NEP 50.

What does *not* equal the emulator (the "native" policy, documented in README.md):

- Compound operations run as numpy runs them in the dtype (the "native" policy; measured with
  numpy 2.4 and ml_dtypes 0.7, benchmarks/bench_native.py): float32 ``np.sum`` is pairwise
  with every addition rounded (differs from ``fused`` in about a quarter of 5 000-term sums),
  ``matmul`` goes through BLAS sgemm (FMA accumulation in its own order: differs from both
  policies in most results), and the FFT is computed in double precision and rounded once
  (identical to ``fused`` in every case measured). float16 sums and matmul accumulate in
  float32 and round once (as ``fused``, but for rare double roundings); ml_dtypes' bfloat16
  sum adds left to right, rounding every addition (identical to ``sequential``). numpy's FFT of
  float16 or bfloat16 data returns complex64 and ml_dtypes' bfloat16 matmul returns float32:
  the model's arrays then leave the format's dtype, and :meth:`NativeArithmetic.to_float64`
  refuses them at the next output.
- Transcendental functions (exp, log, sin, power ...): numpy's float32 versions (SIMD, up to
  2 ulp off) are not correctly rounded, while the emulator rounds float64 libm's result once:
  measured, 39 % of float32 ``np.exp`` results differ, 15 % of sin and cos, 4 % of log, 19 % of
  powers; float16 and bfloat16 (computed through float32, then rounded) almost never differ
  (float16 exp 4e-6, power 8e-5). Today's models call none of them in their steps (the heat
  model's diurnal sin is float64 forcing, rounded as it enters); the GCM's Held–Suarez
  log and power will.

Staying in the dtype: an operand that is a float64 ndarray (a constant that did not enter
through ``const``/``asarray``) makes numpy compute in float64, silently. ``to_float64`` (which
models call on the state for output and restarts) refuses arrays of another floating dtype, so
such a run fails at its first output, naming the dtypes, instead of writing float64 results.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

import numpy as np

from lowprec.components import ComponentNames
from lowprec.errors import FormatError, NotEmulatedError
from lowprec.formats import Format, as_format

__all__ = ["NativeArithmetic", "NATIVE_DTYPES", "native_dtype", "BACKENDS"]

BACKENDS = ("emulated", "native")

# Format -> (module, dtype name): the formats whose values and conventions a dtype has exactly.
NATIVE_DTYPES: dict[Format, tuple[str, str]] = {
    Format(52): ("numpy", "float64"),
    Format(23, 8): ("numpy", "float32"),
    Format(10, 5): ("numpy", "float16"),
    Format(7, 8): ("ml_dtypes", "bfloat16"),
    Format(2, 5): ("ml_dtypes", "float8_e5m2"),
    Format(3, 4): ("ml_dtypes", "float8_e4m3"),
    Format(4, 3): ("ml_dtypes", "float8_e3m4"),
}
# Casts from float64 that are correctly rounded (numpy's own: hardware float32, npy_double_to_half)
_CORRECT_CASTS = ("float64", "float32", "float16")
_CONST_CACHE_SIZE = 4096        # rounded scalar constants kept (a bound: forcing varies)


def _native_list() -> str:
    return ", ".join(f"{name} (sbits {f.sbits}" + ("" if f.ebits is None else f", ebits {f.ebits}")
                     + ")" for f, (_, name) in NATIVE_DTYPES.items())


def native_dtype(fmt: Format | int | str | dict, mode: str = "nearest",
                 where: str = "") -> np.dtype:
    """The numpy dtype that is `fmt` in hardware; FormatError (one line) if there is none."""
    fmt = as_format(fmt)
    prefix = f"{where}: " if where else ""
    if mode != "nearest":
        raise FormatError(f"{prefix}backend 'native' rounds to nearest (ties to even) only, as the "
                          f"hardware does; mode {mode!r} has no native arithmetic. Use backend "
                          f"'emulated' for {mode} rounding.")
    if not fmt.subnormals:
        raise FormatError(f"{prefix}{fmt} flushes subnormals to zero; numpy has no flush-to-zero "
                          f"dtype. Use backend 'emulated', or subnormals = true.")
    entry = NATIVE_DTYPES.get(fmt if fmt.restricted else Format(fmt.sbits))
    if entry is None:
        with_range = [f for f in NATIVE_DTYPES if f.sbits == fmt.sbits and f.ebits is not None]
        hint = (f" ({fmt.sbits} sbits is native with ebits {with_range[0].ebits}: "
                f"{NATIVE_DTYPES[with_range[0]][1]})" if with_range and not fmt.restricted else "")
        raise FormatError(f"{prefix}{fmt} has no native dtype{hint}; native formats: "
                          f"{_native_list()}. Use backend 'emulated' for this format.")
    module, name = entry
    return np.dtype(getattr(importlib.import_module(module), name))


class _Same:
    """`with arith.component(name)`: nothing to switch, every component has the one dtype."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_SAME = _Same()


class NativeArithmetic(ComponentNames):
    """A model's arithmetic in the numpy dtype of `fmt` (see the module doc).

    fmt: a Format with a native dtype (or a preset name, int sbits, dict; see `as_format`).
    mode: "nearest" only (accepted so that callers can pass an experiment's mode).
    components: {name: format or dict}: per-component formats, each the base format again (a
        mixture is refused, see the module doc).
    """

    policy = "native"   # compound operations: numpy's own algorithms in the dtype

    def __init__(self, fmt: Format | int | str | dict, mode: str = "nearest",
                 components: Mapping[str, Any] | None = None) -> None:
        self.fmt = as_format(fmt)
        self.mode = mode
        self.dtype = native_dtype(self.fmt, mode)
        self.is_float64 = self.dtype == np.float64
        self._configured = tuple(components or ())
        for name, spec in (components or {}).items():
            self._check_component(str(name), spec)
        ComponentNames.__init__(self)
        self._scalar = self.dtype.type
        self._consts: dict[float, Any] = {}
        self._cast_rounds = self.dtype.name in _CORRECT_CASTS

    def _check_component(self, name: str, spec: Any) -> None:
        spec = dict(spec) if isinstance(spec, Mapping) else spec
        mode = spec.pop("mode", self.mode) if isinstance(spec, dict) else self.mode
        where = f"component {name!r}"
        try:
            fmt = as_format(spec)
        except (FormatError, TypeError) as err:
            raise FormatError(f"{where}: {err}") from None
        dtype = native_dtype(fmt, mode, where)
        if dtype != self.dtype:
            raise FormatError(
                f"{where} is {fmt} ({dtype.name}) but the base is {self.fmt} ({self.dtype.name}): "
                f"backend 'native' runs every component in one dtype (numpy computes mixed "
                f"operations in the wider type instead of rounding to the active component). "
                f"Use backend 'emulated' for mixed precision.")

    def __repr__(self) -> str:
        return f"NativeArithmetic({self.fmt}, dtype={self.dtype.name})"

    # --- components --------------------------------------------------------------------------
    def component(self, name: str) -> _Same:
        """A context for component `name` (the same dtype); FormatError if the name is unknown."""
        self.require_known(name)
        return _SAME

    # --- entering and leaving ----------------------------------------------------------------
    def _round_into_dtype(self, data: np.ndarray) -> np.ndarray:
        """float64 (or float32) values as a new array of the dtype, each correctly rounded."""
        with np.errstate(over="ignore"):        # overflow to inf is the format's, as emulated
            if self._cast_rounds or data.dtype == self.dtype:
                return data.astype(self.dtype)
            from lowprec.rounding import round as round_to
            # ml_dtypes has cast float64 through float32 (double rounding; its scalar operands
            # still are in 0.7.0): round once here, and the cast is exact
            return round_to(data, self.fmt, "nearest").astype(self.dtype)

    def asarray(self, x: Any) -> np.ndarray:
        """A new ndarray of the dtype holding `x` rounded to nearest (complex: float32 only)."""
        data = np.asarray(x)
        kind = data.dtype.kind
        if data.dtype == self.dtype:
            return data.copy()
        if kind == "c":
            if self.dtype not in (np.float32, np.float64):
                raise NotEmulatedError(
                    f"complex values have no {self.dtype.name} dtype under {self!r}: numpy's "
                    f"complex types hold float32 or float64 parts, so a spectral model's "
                    f"coefficients cannot stay in {self.dtype.name}. Use float32 (sbits=23, "
                    f"ebits=8) natively, or backend 'emulated'.")
            return data.astype(np.result_type(self.dtype, np.complex64))
        if kind in "fiub" or data.dtype in (np.float64, np.float32):
            if data.dtype not in (np.float64, np.float32) or not data.flags.c_contiguous:
                data = data.astype(np.float64, order="C")
            return self._round_into_dtype(data)
        if kind == "V":         # another ml_dtypes type: its float32 values are exact
            return self._round_into_dtype(data.astype(np.float32))
        raise TypeError(f"cannot enter {x!r} (dtype {data.dtype}) into native arithmetic: "
                        f"numbers only")

    def const(self, x: Any) -> Any:
        """A constant rounded to the format: a numpy scalar of the dtype, or an array."""
        if type(x) is float or type(x) is int:
            c = self._consts.get(x)
            if c is None:
                c = self.asarray(np.float64(x))[()]
                # ±0 share a dict key (0 == -0.0) and NaN never matches itself: not kept
                if x != 0 and x == x and len(self._consts) < _CONST_CACHE_SIZE:
                    self._consts[x] = c
            return c
        a = self.asarray(x)
        return a[()] if a.ndim == 0 else a

    def to_float64(self, x: Any) -> np.ndarray:
        """A float64 (complex128) copy; refuses arrays that left the dtype (module doc)."""
        data = np.asarray(x)
        dtype = data.dtype
        if dtype != self.dtype and dtype.kind in "fcV":
            # complex Fourier coefficients of a float32 run are complex64: the same precision
            if not (dtype.kind == "c" and dtype.itemsize == 2 * self.dtype.itemsize):
                raise NotEmulatedError(
                    f"a model array has dtype {dtype.name} under {self!r}: it left "
                    f"{self.dtype.name}, so its operations ran in {dtype.name} (an operand that "
                    f"did not enter through arith.const/asarray, or a numpy function that "
                    f"computes {self.dtype.name} in a wider type, such as np.fft or ml_dtypes' "
                    f"matmul). Enter constants with arith.const, or use backend 'emulated'.")
        if dtype.kind == "c":
            return data.astype(np.complex128)
        return data.astype(np.float64)

    # --- state -------------------------------------------------------------------------------
    def get_state(self) -> dict:
        """{}: native rounding draws no random bits, so a restart needs nothing of it."""
        return {}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Accepts what `get_state` (or an emulator's) returned; there is nothing to restore."""
        if not isinstance(state, Mapping):
            raise ValueError(f"arithmetic state {state!r}: pass the dict get_state() returned")
