"""Rounding float64 (and float32) values onto an emulated format: `round`, the modes, backends.

    lowprec.round(x, Format(10), "nearest")
    lowprec.round(x, "half", "stochastic", seed=7, counter=n)    # n: the operation number

Modes: nearest (ties to even), stochastic (the magnitude rounds up with probability
(|x| - lo) / (hi - lo): unbiased), toward_zero, upward, downward. NaN, ±inf and signed zeros are
preserved. The definition, with the choices at the edges of the range, is `reference`; `kernels`
is the same function in numba (the default backend, bit for bit identical); `backends` also
offers pychop for cross-checks (slow; known divergences).

Exactness: for sbits <= 24, rounding the float64 result of one operation is the correctly
rounded result of that operation in the format; for larger sbits the double rounding (float64,
then sbits) can differ in the last bit.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np

from lowprec.errors import FormatError
from lowprec.formats import Format, as_format
from lowprec.rounding.randombits import as_uint64

__all__ = ["MODES", "MODE_CODES", "round", "mode_code"]

MODES = ("nearest", "stochastic", "toward_zero", "upward", "downward")
MODE_CODES = {"nearest": 0, "stochastic": 1, "toward_zero": 2, "upward": 3, "downward": 4}

T = TypeVar("T", float, np.floating, np.ndarray)


def mode_code(mode: str) -> int:
    """The kernel code of a rounding mode name; FormatError listing the modes if unknown."""
    try:
        return MODE_CODES[mode]
    except (KeyError, TypeError):
        raise FormatError(f"unknown rounding mode {mode!r}; known: {', '.join(MODES)}") from None


def round(x: T, fmt: Format | int | str | dict, mode: str = "nearest", *, seed: int | None = None,
          counter: int = 0, backend: str = "numba", offset: int = 0) -> T:
    """`x` rounded to the format `fmt` in rounding mode `mode`; same type, dtype and shape.

    x: a float64 or float32 ndarray, a numpy float64/float32 scalar, or a Python float.
    fmt: a Format, or anything `as_format` takes (int sbits, preset name, dict).
    mode: one of MODES.
    seed, counter: stochastic rounding's random bits for flat (C-order) element i are
        randombits.mix(seed, counter, offset + i); `seed` is required for stochastic rounding,
        and a caller doing one rounding per operation passes the operation number as counter.
    offset: flat index of x[0] in a larger array, so that rounding chunks of an array with their
        offsets gives the bits of rounding the whole.
    backend: "numba" (fast, default), "numpy" (the reference; identical bits) or "pychop"
        (cross-checks only: slow, its own random numbers, known divergences; see backends).
    """
    from lowprec.rounding.backends import get_backend

    fmt = as_format(fmt)
    code = mode_code(mode)
    if code == MODE_CODES["stochastic"]:
        if seed is None:
            raise ValueError("stochastic rounding needs random bits: pass seed= (an int in "
                             "[0, 2**64)), and counter= for each new operation")
        seed = as_uint64("seed", seed)
    else:
        seed = 0 if seed is None else as_uint64("seed", seed)
    counter = as_uint64("counter", counter)
    offset = as_uint64("offset", offset)
    run = get_backend(backend)

    if isinstance(x, np.ndarray):
        if x.dtype not in (np.float64, np.float32):
            raise TypeError(f"lowprec.round rounds float64 or float32 arrays, got dtype "
                            f"{x.dtype}; convert with x.astype(np.float64)")
        if not x.flags.writeable:
            # numba would type a read-only array as another kind of array and fail to compile
            # the kernel for it; the kernels only read x, so a writeable copy gives the same bits
            x = x.copy()
        return run(x, fmt, code, seed, counter, offset).reshape(x.shape)
    if isinstance(x, (np.float64, np.float32)):
        data = np.asarray(x).reshape(1)
        return run(data, fmt, code, seed, counter, offset)[0]
    if isinstance(x, float):
        data = np.array([x], dtype=np.float64)
        return float(run(data, fmt, code, seed, counter, offset)[0])
    raise TypeError(f"lowprec.round rounds floats and float64/float32 arrays, got "
                    f"{type(x).__name__} {x!r}; convert with float(x) or "
                    f"np.asarray(x, dtype=np.float64)")
