"""Rounding one operation's result inside the sequential kernels: inline and vectorisable.

The sequential kernels (`sequential.py`: contractions; `fourier.py`: FFTs) round every multiply
and add of long chains of operations, many independent chains (rows, outputs) side by side.
`kernels.round_scalar` costs ~10 ns per call there: its branches on the mode and the format stop
vectorisation, and it rederives the recipe's constants each time. Here:

    recipe(params, counter)      the constants of the bit recipe, once per kernel call (params:
                                 `kernels.round_params`, as the emulator packs them)
    ROUNDERS[f](x, c, index)     one operation's result x rounded, for rounding flavour f:
                                 (value, slow); index: the operation's random-bit index
                                 (stochastic rounding draws mix(seed, counter, index))
    exact(x, c, index)           the same through `round_scalar`: every value, slower

A flavour is how a kernel rounds: NEAREST and STOCHASTIC are the bit recipes of
`lowprec.rounding.kernels` for a format with float64's exponent range (and subnormals), applied
branch-free so that loops over rows vectorise; GENERAL covers everything else (restricted and
flush-to-zero formats, the directed modes, sbits = 52 where rounding is the identity) with the
mode selected by masks at run time and every value checked against the format's range. The
rounders give the bits of `round_scalar` for NaN and ±inf (returned unchanged), ±0 and every
value of magnitude in [2**emin, max_finite] (all values, for NEAREST and STOCHASTIC). GENERAL
returns a value outside that range unrounded with slow = True; a kernel that sees it redoes
that step for its rows with `exact`. The other rounders return slow = False, a constant, so
the check and the redo vanish from their kernels (measured: the check alone makes a butterfly
~3x slower). Kernels are compiled per flavour by `specialise`, since numba neither inlines
a plain njit callee nor folds a flavour passed as an argument.
"""
from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np
from numba import njit

# the float64 bit constants are the rounding kernels' own (numba reads them as compile-time globals)
from lowprec.rounding.kernels import _FRAC, _INF_BITS, _MAG, _SIGN, _U0, _U1, _U52, round_scalar
from lowprec.rounding.randombits import GOLDEN, fmix64, stream_key

__all__ = ["recipe", "flavour", "tracked", "ROUNDERS", "exact", "specialise"]

_STOCHASTIC_CODE = 1

NEAREST, STOCHASTIC, GENERAL = 0, 1, 2          # the flavours


def flavour(params: np.ndarray) -> int:
    """The rounding flavour of packed rounding parameters (`kernels.round_params`)."""
    sbits, restricted, subnormals, mode = (int(params[0]), int(params[3]), int(params[4]),
                                           int(params[5]))
    if restricted or not subnormals or sbits == 52 or mode not in (NEAREST, STOCHASTIC):
        return GENERAL
    return mode


def tracked(f: int) -> bool:
    """Whether rounding flavour f checks values against the format's range (and may be slow)."""
    return f == GENERAL


@njit(cache=True)
def recipe(params, counter):
    """The rounding constants for one kernel call: a tuple read by the rounders.

    params: uint64 (sbits, emin mod 2**64, emax, restricted, subnormals, mode, seed);
    counter: the compound operation's counter value (the stream key of its random bits).
    """
    sbits = np.int64(params[0])
    emin = np.int64(params[1])                    # two's complement: negative emin comes back
    emax = np.int64(params[2])
    restricted = params[3] != _U0
    subnormals = params[4] != _U0
    mode = np.int64(params[5])
    key = stream_key(params[6], np.uint64(counter))
    s = 52 - sbits
    su = np.uint64(s)
    low = (_U1 << su) - _U1
    keep = ~low
    half_m1 = ((_U1 << su) >> _U1) - _U1 if s > 0 else _U0
    rshift = np.uint64(64 - s) if s > 0 else np.uint64(63)
    # directed: add all the dropped bits (a carry iff one is set) when rounding away from 0:
    # upward for positive values, downward for negative ones; toward zero never
    # GENERAL's masks: which recipe adds its increment (none when no bit is dropped)
    m_near = ~_U0 if (mode == 0 and s > 0) else _U0
    m_sto = ~_U0 if (mode == 1 and s > 0) else _U0
    # directed: add all the dropped bits (a carry iff one is set) when the magnitude rounds
    # up: upward for positive values, downward for negative ones, toward zero never
    up_pos = _U1 if mode == 3 else _U0
    up_neg = _U1 if mode == 4 else _U0
    # magnitudes outside [min_bits, max_bits] take the exact path (cf. kernels._fast_block)
    min_bits = (np.uint64(emin + 1023) << _U52) if (restricted or not subnormals) else _U0
    if restricted:
        max_bits = (np.uint64(emax + 1023) << _U52) | (_FRAC & keep)
    else:
        max_bits = ~_U0
    span = max_bits - min_bits
    return (su, keep, half_m1, rshift, low, up_pos, up_neg, key, min_bits, span,
            sbits, emin, emax, restricted, subnormals, mode, m_near, m_sto)


@njit(inline="always")
def _nearest_bits(w, c):
    return (w + c[2] + ((w >> c[0]) & _U1)) & c[1]


@njit(inline="always")
def _stochastic_bits(w, c, index):
    return (w + (fmix64(c[7] ^ (index * GOLDEN)) >> c[3])) & c[1]


@njit(inline="always")
def _plain(w, r):
    """r, or w itself if w is NaN or ±inf."""
    special = np.uint64((w & _MAG) >= _INF_BITS)
    mask = _U0 - special
    return np.uint64((w & mask) | (r & ~mask)).view(np.float64)


@njit(inline="always")
def _checked(w, r, c):
    """(r, False), or (w, slow) if w is NaN, ±inf (slow False) or outside the fast range."""
    a = w & _MAG
    special = a >= _INF_BITS
    slow = ((a - c[8]) > c[9]) & (a != _U0) & ~special
    mask = _U0 - np.uint64(special | slow)
    return np.uint64((w & mask) | (r & ~mask)).view(np.float64), slow


@njit(inline="always")
def _nearest(x, c, index):
    w = np.float64(x).view(np.uint64)
    return _plain(w, _nearest_bits(w, c)), False


@njit(inline="always")
def _stochastic(x, c, index):
    w = np.float64(x).view(np.uint64)
    return _plain(w, _stochastic_bits(w, c, index)), False


@njit(inline="always")
def _general(x, c, index):
    w = np.float64(x).view(np.uint64)
    near = (c[2] + ((w >> c[0]) & _U1)) & c[16]
    sto = (fmix64(c[7] ^ (index * GOLDEN)) >> c[3]) & c[17]
    sign = w >> np.uint64(63)
    up = (c[5] & (sign ^ _U1)) | (c[6] & sign)
    r = (w + (near | sto | (c[4] & (_U0 - up)))) & c[1]
    return _checked(w, r, c)


ROUNDERS = {NEAREST: _nearest, STOCHASTIC: _stochastic, GENERAL: _general}


@njit(cache=True)
def exact(x, c, index):
    """(x rounded by `round_scalar`, False): any value, the rounding mode of `c`."""
    bits = fmix64(c[7] ^ (index * GOLDEN)) if c[15] == _STOCHASTIC_CODE else _U0
    return round_scalar(x, c[10], c[11], c[12], c[13], c[14], c[15], bits), False


def specialise(func: Callable, suffix: str, inline: bool = False, cache: bool = False,
               **bindings: Any) -> Any:
    """A numba function compiled from a copy of the plain function `func` whose global names
    `bindings` (a rounder, the loops of one flavour, constants) are bound to the given objects.

    The copy is named func.__name__ + "_" + suffix, so that numba caches each copy apart (it
    names cache files by qualified name; the copies share their bytecode). Closures would bind
    the names too, but numba's cache key pickles closure cells, and a cell holding a numba
    function pickles differently in every process: the kernels would never be found in the
    cache. Note that, as for every numba cache, a change in a bound function's module alone
    does not invalidate the cached kernels of `func`'s module (touch that module too).
    """
    names = dict(func.__globals__)
    names.update(bindings)
    copy = types.FunctionType(func.__code__, names, f"{func.__name__}_{suffix}",
                              func.__defaults__)
    copy.__qualname__ = f"{func.__qualname__}_{suffix}"
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    return njit(inline="always")(copy) if inline else njit(cache=cache)(copy)
