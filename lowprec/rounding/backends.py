"""Rounding backends by name: "numba" (the fast path), "numpy" (the reference), "pychop".

Every backend is a function (x, fmt, mode_code, seed, counter, offset) -> new array of x's dtype
and shape. numba and numpy give identical bits. pychop is here to cross-check against an
independent implementation and as the speed anchor of benchmark B1p; do not use it to run
models:
- it is slow: pychop 0.6.2 sends arrays over 800 elements through dask in 800-element chunks
  (roughly 100-1500x a numpy multiply for round-to-nearest on 1e6 values);
- its stochastic rounding draws from numpy's generator seeded with `random_state` (here
  seed mod 2**32), not from lowprec's counter-based bits, so results agree only in distribution;
  counter and offset are ignored;
- known wrong results in 0.6.2 (fp16 nearest): 65520 -> 65536 instead of inf, values in
  [65536, 131072) -> 0, -0 -> +0, subnormal near-ties double-rounded, exp_bits >= 9 wrong below
  1e-38. Compare with it on normal-range inputs only.
float64's exponent range (ebits None) is passed to pychop as exp_bits=11.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from lowprec.formats import Format
from lowprec.rounding import kernels, reference

__all__ = ["RoundingBackend", "BACKENDS", "get_backend", "pychop_round"]


class RoundingBackend(Protocol):
    def __call__(self, x: np.ndarray, fmt: Format, mode_code: int, seed: int, counter: int,
                 offset: int) -> np.ndarray: ...


# lowprec mode code -> pychop rmode
PYCHOP_RMODE = {0: 1, 1: 5, 2: 4, 3: 2, 4: 3}


def pychop_round(x: np.ndarray, fmt: Format, mode_code: int, seed: int = 0, counter: int = 0,
                 offset: int = 0) -> np.ndarray:
    """`x` rounded by pychop 0.6.2 `Chop(exp_bits, sig_bits, rmode)` (slow; see module doc)."""
    from pychop import Chop

    chop = Chop(exp_bits=11 if fmt.ebits is None else fmt.ebits, sig_bits=fmt.sbits,
                rmode=PYCHOP_RMODE[mode_code], subnormal=fmt.subnormals,
                random_state=seed % 2**32)
    data = np.ascontiguousarray(x)
    out = np.asarray(chop(data.astype(np.float64)), dtype=np.float64)
    return out.astype(data.dtype).reshape(data.shape)


BACKENDS: dict[str, Callable[..., np.ndarray]] = {
    "numba": kernels.round_array,
    "numpy": reference.round_array,
    "pychop": pychop_round,
}


def get_backend(name: str) -> Callable[..., np.ndarray]:
    """The backend called `name`; ValueError listing the backends if there is none."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown rounding backend {name!r}; known: "
                         f"{', '.join(BACKENDS)}") from None
