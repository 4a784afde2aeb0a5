"""The definition of lowprec's rounding, in plain numpy: readable, and bit for bit the kernels'.

`round_array(x, fmt, mode_code, seed, counter, offset)` rounds every element of a float64 array
onto the values of `fmt`; float32 data is rounded as its exact float64 values would be under the
format's range intersected with float32's (`kernels.float32_args`), then stored as float32.

On the uint64 view u of x, s = 52 - sbits dropped bits, low = 2**s - 1:
    nearest (ties to even)  u' = (u + (2**(s-1) - 1) + ((u >> s) & 1)) & ~low
    stochastic              u' = (u + (r >> (64 - s))) & ~low,  r = randombits.mix(seed, counter, i)
                            i.e. the magnitude rounds up with probability (|x| - lo) / (hi - lo),
                            to a resolution of 2**-s (exact: |x| - lo is a multiple of 2**-s here)
    toward_zero             u' = u & ~low
    upward / downward       u & ~low, plus 2**s if a dropped bit was set and x > 0 (upward) or
                            x < 0 (downward)
A carry out of the significand lands in the exponent: the next binade, or inf at the top of
float64's range (right for nearest, stochastic and the directed modes away from zero).

Edges:
- NaN (payload and sign kept) and ±inf pass unchanged; ±0 keeps its sign, and so does any value
  that rounds to zero.
- Restricted range (ebits given) or flush-to-zero: |x| < 2**emin is rounded on its integer
  significand m (|x| = m * 2**q) to a multiple of the subnormal spacing 2**(emin - sbits), with
  the same rules (stochastic: up if rem + (r >> (64 - d)) >= 2**d for d < 64 dropped bits; for
  d >= 64, up if r < ceil(m / 2**(d - 64)), exact to 2**-64). With subnormals=False a result
  below 2**emin then becomes ±0 (flush after rounding, as hardware FTZ).
- Restricted range: a result above max_finite overflows per mode (see `Format`).
- float64 range with subnormals: float64's own subnormals are rounded by the same bit recipe,
  which is exactly gradual underflow at emin = -1022 with sbits bits.

Exactness: rounding the float64 result of one operation emulates that operation correctly
rounded for sbits <= 24 (53 >= 2 * (sbits + 1) + 2). For 25 <= sbits < 52 the float64 result was
already rounded once, and rounding again can differ from a single correct rounding in the last
bit (double rounding); stochastic rounding's probabilities are then those of the float64 value.
"""
from __future__ import annotations

import numpy as np

from lowprec.formats import Format
from lowprec.rounding.randombits import random_bits

__all__ = ["round_array"]

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U52 = np.uint64(52)
_U64 = np.uint64(64)
_SIGN = np.uint64(1 << 63)
_MAG = np.uint64((1 << 63) - 1)
_INF_BITS = np.uint64(0x7FF0000000000000)
_FRAC = np.uint64((1 << 52) - 1)
_HIDDEN = np.uint64(1 << 52)


def _round_tiny(a: np.ndarray, neg: np.ndarray, sbits: int, emin: int, subnormals: bool,
                mode: int, r: np.ndarray | None) -> np.ndarray:
    """Magnitudes a (bits, all below 2**emin) rounded to multiples of 2**(emin - sbits)."""
    biased = (a >> _U52).astype(np.int64)
    normal = biased > 0
    m = np.where(normal, (a & _FRAC) | _HIDDEN, a & _FRAC)
    q = np.where(normal, biased - 1075, -1074)
    t = emin - sbits                                    # exponent of the subnormal spacing
    d = t - q                                           # dropped bits, >= 0
    few = (d > 0) & (d < 64)
    du = np.where(few, d, 1).astype(np.uint64)          # shift counts kept in 1..63
    k = np.where(d == 0, m, np.where(few, m >> du, _U0))
    rem = np.where(few, m & ((_U1 << du) - _U1), np.where(d >= 64, m, _U0))
    if mode == 0:
        half = _U1 << (du - _U1)
        up = few & ((rem > half) | ((rem == half) & ((k & _U1) == _U1)))
    elif mode == 1:
        up_few = few & (rem + (r >> (_U64 - du)) >= (_U1 << du))
        sh = np.where(d >= 64, d - 64, 0)
        thr = np.where(sh < 64, ((m - _U1) >> np.minimum(sh, 63).astype(np.uint64)) + _U1, _U1)
        up_many = (d >= 64) & (m != _U0) & (r < thr)
        up = up_few | up_many
    elif mode == 2:
        up = np.zeros(a.shape, dtype=bool)
    else:
        up = (rem != _U0) & (neg if mode == 4 else ~neg)
    k = k + up.astype(np.uint64)
    if not subnormals:
        k = np.where(k < (_U1 << np.uint64(sbits)), _U0, k)    # flush: below 2**emin
    mag = np.ldexp(k.astype(np.float64), t)
    return np.where(neg, -mag, mag)


def _overflow(neg: np.ndarray, sbits: int, emax: int, mode: int) -> np.ndarray:
    """Values for results that rounded past max_finite of a restricted format."""
    max_finite = np.ldexp(2.0 - np.ldexp(1.0, -sbits), emax)
    if mode == 2:
        big = np.full(neg.shape, max_finite)
    elif mode == 3:
        big = np.where(neg, max_finite, np.inf)
    elif mode == 4:
        big = np.where(neg, np.inf, max_finite)
    else:
        big = np.full(neg.shape, np.inf)
    return np.where(neg, -big, big)


def round_float64(x: np.ndarray, sbits: int, emin: int, emax: int, restricted: bool,
                  subnormals: bool, mode: int, r: np.ndarray | None) -> np.ndarray:
    """Flat float64 `x` rounded to (sbits, emin, emax, restricted, subnormals); r: random bits."""
    u = x.view(np.uint64)
    a = u & _MAG
    neg = u >= _SIGN
    s = 52 - sbits
    su = np.uint64(s)
    low = (_U1 << su) - _U1
    if s == 0:
        v = u.copy()
    elif mode == 0:
        v = (u + ((_U1 << (su - _U1)) - _U1) + ((u >> su) & _U1)) & ~low
    elif mode == 1:
        v = (u + (r >> (_U64 - su))) & ~low
    elif mode == 2:
        v = u & ~low
    else:
        away = ((u & low) != _U0) & (neg if mode == 4 else ~neg)
        v = (u & ~low) + np.where(away, _U1 << su, _U0)
    if restricted:
        max_bits = (np.uint64(emax + 1023) << _U52) | (_FRAC & ~low)
        over = ((v & _MAG) > max_bits) & (a < _INF_BITS)
        if over.any():
            v[over] = _overflow(neg[over], sbits, emax, mode).view(np.uint64)
    if restricted or not subnormals:
        tiny = a < (np.uint64(emin + 1023) << _U52)
        if tiny.any():
            rt = None if r is None else r[tiny]
            v[tiny] = _round_tiny(a[tiny], neg[tiny], sbits, emin, subnormals, mode,
                                  rt).view(np.uint64)
    special = a >= _INF_BITS                            # NaN and ±inf: unchanged
    v[special] = u[special]
    return v.view(np.float64)


def round_array(x: np.ndarray, fmt: Format, mode_code: int, seed: int = 0, counter: int = 0,
                offset: int = 0) -> np.ndarray:
    """A new C-ordered array: `x` (float64 or float32) rounded to `fmt` (see module docstring).

    Element i (C order) uses the bits random_bits(seed, counter, ...)[i], i.e. mix(seed,
    counter, offset + i).
    """
    from lowprec.rounding.kernels import float32_args

    x = np.ascontiguousarray(x)
    if x.dtype == np.float64:
        args, flat = fmt.kernel_args(), x.reshape(-1)
    elif x.dtype == np.float32:
        args, flat = float32_args(fmt), x.reshape(-1).astype(np.float64)
    else:
        raise TypeError(f"round_array needs float64 or float32 data, got {x.dtype}")
    r = random_bits(seed, counter, flat.size, offset) if mode_code == 1 else None
    out = round_float64(flat, *args, mode_code, r)
    return out.astype(x.dtype).reshape(x.shape)
