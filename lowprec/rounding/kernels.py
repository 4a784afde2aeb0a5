"""The numba rounding kernels: the fast path, bit for bit the same as `reference`.

`round_scalar` rounds one float64 and is meant to be called from other njit code (the
emulator's sequential sums and products call it once per operation). `round_array` is one fused
pass over an array: read, hash the counter for the random bits, round, write.

Bit recipes on the uint64 view u of x, with s = 52 - sbits dropped bits (see `reference` for the
readable definition and the choices at the edges of the range):
    nearest       u' = (u + (2**(s-1) - 1) + ((u >> s) & 1)) & ~(2**s - 1)
    stochastic    u' = (u + (r >> (64 - s))) & ~(2**s - 1)           r: 64 random bits
    toward_zero   u' = u & ~(2**s - 1)
    upward/downward: toward zero, then one spacing away from zero if a dropped bit was set and
                  the sign asks for it.
NaN and ±inf are returned unchanged; signed zeros keep their sign. Values below 2**emin of a
restricted (or flush-to-zero) format take the integer-significand path `_round_tiny`; results
above max_finite of a restricted format are handled by `_overflow`.
On arrays, `round_bits_into` rounds every element by the plain recipe in one SIMD pass and
then sends only the few finite elements outside [2**emin, max_finite] through `round_scalar`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from lowprec.formats import Format
from lowprec.rounding.randombits import GOLDEN, fmix64, stream_key

__all__ = ["round_scalar", "round_array", "round_bits_into", "round_into", "round_in_place",
           "round_params", "float32_args"]

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U52 = np.uint64(52)
_SIGN = np.uint64(1 << 63)
_MAG = np.uint64((1 << 63) - 1)
_INF_BITS = np.uint64(0x7FF0000000000000)
_FRAC = np.uint64((1 << 52) - 1)
_HIDDEN = np.uint64(1 << 52)

NEAREST, STOCHASTIC, TOWARD_ZERO, UPWARD, DOWNWARD = 0, 1, 2, 3, 4


@njit(cache=True)
def _as_float(bits):
    return np.uint64(bits).view(np.float64)


@njit(cache=True)
def _round_tiny(a, neg, sbits, emin, subnormals, mode, rbits):
    """Round |x| = a (bits, below 2**emin) to a multiple of the subnormal spacing 2**(emin-sbits).

    Works on the integer significand m (|x| = m * 2**q) so that any number of dropped bits is
    exact; with subnormals=False a result below 2**emin is then flushed to zero.
    """
    biased = np.int64(a >> _U52)
    if biased > 0:
        m = (a & _FRAC) | _HIDDEN
        q = biased - 1075
    else:
        m = a & _FRAC
        q = np.int64(-1074)
    t = np.int64(emin - sbits)                  # exponent of the subnormal spacing
    sp = t - q                                  # dropped bits, >= 0 here
    up = False
    if sp == 0:
        k = m
    elif sp < 64:
        spu = np.uint64(sp)
        k = m >> spu
        rem = m & ((_U1 << spu) - _U1)
        if mode == 0:
            half = _U1 << (spu - _U1)
            up = rem > half or (rem == half and (k & _U1) == _U1)
        elif mode == 1:
            up = rem + (rbits >> (np.uint64(64) - spu)) >= (_U1 << spu)
        elif mode == 3:
            up = rem != _U0 and not neg
        elif mode == 4:
            up = rem != _U0 and neg
    else:
        # m < 2**53 <= 2**(sp - 1): below half the spacing. Stochastic rounding compares the 64
        # random bits with ceil(m / 2**(sp - 64)) (probability exact to 2**-64).
        k = _U0
        if mode == 1:
            if m != _U0:
                sh = sp - 64
                if sh < 64:
                    thr = ((m - _U1) >> np.uint64(sh)) + _U1
                else:
                    thr = _U1
                up = rbits < thr
        elif mode == 3:
            up = m != _U0 and not neg
        elif mode == 4:
            up = m != _U0 and neg
    if up:
        k = k + _U1
    if not subnormals and k < (_U1 << np.uint64(sbits)):
        k = _U0                                 # flush to zero: below 2**emin after rounding
    mag = math.ldexp(np.float64(k), t)
    return -mag if neg else mag


@njit(cache=True)
def _overflow(neg, sbits, emax, mode):
    """The result for a value that rounded past max_finite of a restricted format."""
    max_finite = math.ldexp(2.0 - math.ldexp(1.0, -sbits), emax)
    if mode == 2:
        big = max_finite
    elif mode == 3:
        big = max_finite if neg else np.inf
    elif mode == 4:
        big = np.inf if neg else max_finite
    else:
        big = np.inf
    return -big if neg else big


@njit(cache=True)
def round_scalar(x, sbits, emin, emax, restricted, subnormals, mode, rbits):
    """x (float64) rounded to the format (sbits, emin, emax, restricted, subnormals).

    mode: 0 nearest (ties to even), 1 stochastic, 2 toward zero, 3 upward, 4 downward
    (`lowprec.rounding.MODE_CODES`). rbits: 64 random bits (uint64), used by stochastic only;
    get them from `randombits.mix(seed, counter, index)`.
    """
    u = np.float64(x).view(np.uint64)
    a = u & _MAG
    if a >= _INF_BITS:
        return np.float64(x)                    # NaN (payload kept) and ±inf
    neg = u >= _SIGN
    if (restricted or not subnormals) and a < (np.uint64(emin + 1023) << _U52):
        return _round_tiny(a, neg, sbits, emin, subnormals, mode, np.uint64(rbits))
    s = 52 - sbits
    su = np.uint64(s)
    low = (_U1 << su) - _U1
    if s == 0:
        v = u
    elif mode == 0:
        v = (u + ((_U1 << (su - _U1)) - _U1) + ((u >> su) & _U1)) & ~low
    elif mode == 1:
        v = (u + (np.uint64(rbits) >> (np.uint64(64) - su))) & ~low
    elif mode == 2:
        v = u & ~low
    elif (u & low) != _U0 and (neg == (mode == 4)):
        v = (u & ~low) + (_U1 << su)            # directed: one spacing away from zero
    else:
        v = u & ~low
    if restricted:
        max_bits = (np.uint64(emax + 1023) << _U52) | (_FRAC & ~low)
        if (v & _MAG) > max_bits:
            return _overflow(neg, sbits, emax, mode)
    return _as_float(v)


_BLOCK = 4096     # elements per block: the fast pass and any fix-up share the cache
_CHUNK = 64       # the fix-up looks for its elements this many at a time


@njit(cache=True, inline="always")
def _fast_block(u, v, lo, hi, mode, s, key, offset, min_bits, max_bits, track):
    """Bits u[lo:hi] rounded by the plain recipe into v[lo:hi] (branch-free, so SIMD); u[0] has
    flat index `offset` for the random bits. (Unsigned loop indices: no negative-index
    wraparound check, which would stop vectorisation.)

    Elements that need the exact path (`round_scalar`): finite magnitudes outside
    [min_bits, max_bits], i.e. the subnormal range of a restricted/flush-to-zero format, or
    above max_finite (which may overflow). They are left in v as their input bits, so that the
    fix-up can find and round them even in place. Returns (how many, sum of their indices):
    with one, the sum is its index. (A magnitude in the range rounds into it: min_bits and
    max_bits are format values.) track: a literal, False where nothing needs the exact path,
    so that the compiler drops the checks.
    """
    su = np.uint64(s)
    low = (_U1 << su) - _U1
    keep = ~low
    step = _U1 << su
    half_m1 = (step >> _U1) - _U1 if s > 0 else _U0
    rshift = np.uint64(64 - s) if s > 0 else np.uint64(63)
    span = max_bits - min_bits       # one unsigned compare: a - min_bits wraps if a < min_bits
    nslow = 0
    where = _U0
    if mode == 0:
        for i in range(np.uint64(lo), np.uint64(hi)):
            w = u[i]
            r = (w + half_m1 + ((w >> su) & _U1)) & keep
            a = w & _MAG
            special = a >= _INF_BITS
            slow = track and ((a - min_bits) > span) & ~special
            nslow += slow
            where += i if slow else _U0
            v[i] = w if special | slow else r
    elif mode == 1:
        for i in range(np.uint64(lo), np.uint64(hi)):
            w = u[i]
            rb = fmix64(key ^ ((offset + i) * GOLDEN))
            r = (w + (rb >> rshift)) & keep
            a = w & _MAG
            special = a >= _INF_BITS
            slow = track and ((a - min_bits) > span) & ~special
            nslow += slow
            where += i if slow else _U0
            v[i] = w if special | slow else r
    else:
        # 2 toward zero, 3 upward (away from zero if positive), 4 downward (if negative)
        away_if_neg = mode == 4
        away_any = mode != 2
        for i in range(np.uint64(lo), np.uint64(hi)):
            w = u[i]
            neg = w >= _SIGN
            away = away_any and ((w & low) != _U0) and (neg == away_if_neg)
            r = (w & keep) + (step if away else _U0)
            a = w & _MAG
            special = a >= _INF_BITS
            slow = track and ((a - min_bits) > span) & ~special
            nslow += slow
            where += i if slow else _U0
            v[i] = w if special | slow else r
    return nslow, where


@njit(cache=True)
def _fix_one(v, i, sbits, emin, emax, restricted, subnormals, mode, key, offset):
    """v[i] (input bits left by `_fast_block`) rounded on the exact path."""
    rb = fmix64(key ^ ((offset + i) * GOLDEN)) if mode == 1 else _U0
    y = round_scalar(_as_float(v[i]), sbits, emin, emax, restricted, subnormals, mode, rb)
    v[i] = np.float64(y).view(np.uint64)


@njit(cache=True)
def _fix_block(v, lo, hi, nslow, sbits, emin, emax, restricted, subnormals, mode, key, offset,
               min_bits, max_bits):
    """The exact path for the nslow elements of v[lo:hi] that `_fast_block` left unrounded:
    counted _CHUNK at a time (SIMD), then looked for only in chunks that have some."""
    span = max_bits - min_bits
    left = nslow
    c0 = lo
    while c0 < hi and left > 0:
        c1 = min(c0 + _CHUNK, hi)
        count = 0
        for i in range(np.uint64(c0), np.uint64(c1)):
            a = v[i] & _MAG
            count += ((a - min_bits) > span) & (a < _INF_BITS)
        if count > 0:
            for i in range(np.uint64(c0), np.uint64(c1)):
                a = v[i] & _MAG
                if (a - min_bits) > span and a < _INF_BITS:
                    _fix_one(v, i, sbits, emin, emax, restricted, subnormals, mode, key, offset)
            left -= count
        c0 = c1


@njit(cache=True)
def round_bits_into(u, v, sbits, emin, emax, restricted, subnormals, mode, key, offset):
    """float64 bits `u` rounded into `v`, block by block; returns nothing.

    u, v: flat uint64 arrays of the same size (views of float64 data); v may be u itself
    (rounding in place), but must not overlap it otherwise. sbits, emin, emax, restricted,
    subnormals: `Format.kernel_args()`. mode: a `MODE_CODES` value. key: the operation's stream
    key, `randombits.stream_key(seed, counter)` (read by stochastic rounding only). offset: the
    flat index of u[0] in the whole array, for the random bits (0 for a whole array).
    """
    key = np.uint64(key)
    offset = np.uint64(offset)
    s = 52 - sbits
    fast_mode = mode if s > 0 else 2            # sbits 52: the recipe is the identity
    min_bits = np.uint64(emin + 1023) << _U52 if (restricted or not subnormals) else _U0
    if restricted:
        max_bits = (np.uint64(emax + 1023) << _U52) | (_FRAC & ~((_U1 << np.uint64(s)) - _U1))
    else:
        max_bits = ~_U0
    n = u.size
    in_place = n > 0 and u.ctypes.data == v.ctypes.data
    if not (restricted or not subnormals):      # nothing to fix up: one pass, no blocks
        if in_place:    # one array: no aliasing for the compiler to guard, so this vectorises
            _fast_block(u, u, 0, n, fast_mode, s, key, offset, min_bits, max_bits, False)
        else:
            _fast_block(u, v, 0, n, fast_mode, s, key, offset, min_bits, max_bits, False)
        return
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        if in_place:
            nslow, where = _fast_block(v, v, lo, hi, fast_mode, s, key, offset, min_bits,
                                       max_bits, True)
        else:
            nslow, where = _fast_block(u, v, lo, hi, fast_mode, s, key, offset, min_bits,
                                       max_bits, True)
        if nslow == 1:                          # the usual case: its index is `where`
            _fix_one(v, where, sbits, emin, emax, restricted, subnormals, mode, key, offset)
        elif nslow > 1:
            _fix_block(v, lo, hi, nslow, sbits, emin, emax, restricted, subnormals, mode, key,
                       offset, min_bits, max_bits)


_round_bits = round_bits_into          # the former private name


@njit(cache=True)
def round_into(x, out, sbits, emin, emax, restricted, subnormals, mode, seed, counter):
    """`x` rounded into `out`: float64 arrays of one shape (any, 0-d included), both C-contiguous;
    `out` may be `x` itself. One call per emulated operation, so everything else it needs (the
    stream key from seed and counter, the flat uint64 views) is done here rather than in Python,
    where each step costs a few hundred nanoseconds. Bits as `round_array(x, fmt, mode, seed,
    counter)`: element i (C order) draws mix(seed, counter, i).
    """
    key = stream_key(seed, counter) if mode == 1 else _U0
    round_bits_into(x.reshape(-1).view(np.uint64), out.reshape(-1).view(np.uint64), sbits,
                    emin, emax, restricted, subnormals, mode, key, _U0)


def round_params(fmt: Format, mode_code: int, seed: int = 0) -> np.ndarray:
    """The arguments of `round_in_place` but the array and the counter, packed once (uint64:
    sbits, emin, emax, restricted, subnormals, mode, seed; emin as its two's complement)."""
    sbits, emin, emax, restricted, subnormals = fmt.kernel_args()
    return np.array([sbits, emin % 2**64, emax, restricted, subnormals, mode_code, seed],
                    dtype=np.uint64)


@njit(cache=True)
def round_in_place(x, params, counter):
    """`x` (float64 array, any shape, C-contiguous) rounded in place; `params` from
    `round_params`. Same bits as `round_into(x, x, ..., seed, counter)`; three arguments instead
    of ten, because numba's dispatcher checks every argument's type on each call, and this is
    called once per emulated operation.
    """
    mode = np.int64(params[5])
    key = stream_key(params[6], counter) if mode == 1 else _U0
    u = x.reshape(-1).view(np.uint64)
    round_bits_into(u, u, np.int64(params[0]), np.int64(params[1]), np.int64(params[2]),
                    params[3] != _U0, params[4] != _U0, mode, key, _U0)


def float32_args(fmt: Format) -> tuple[int, int, int, bool, bool]:
    """Kernel arguments for float32 data: the format's range intersected with float32's.

    A float32 array is rounded as its (exact) float64 values would be under
    Format(min(sbits, 23), min(ebits, 8), subnormals), so sbits > 23 changes no significand
    and the result is always a float32 value.
    """
    ebits = 8 if fmt.ebits is None else min(fmt.ebits, 8)
    return Format(min(fmt.sbits, 23), ebits, fmt.subnormals).kernel_args()


def round_array(x: np.ndarray, fmt: Format, mode_code: int, seed: int = 0, counter: int = 0,
                offset: int = 0) -> np.ndarray:
    """A new C-ordered array: `x` (float64 or float32) rounded to `fmt`, one fused pass.

    Element i (C order) of `x` draws its random bits from mix(seed, counter, offset + i), so a
    chunk starting at flat index k of a larger array, rounded with offset=k, gets the same bits
    as it would in the whole. seed, counter, offset: ints in [0, 2**64).
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    key = np.uint64(stream_key(np.uint64(seed), np.uint64(counter)))
    flat_in, flat_out = x.reshape(-1), out.reshape(-1)
    if x.dtype == np.float64:
        round_bits_into(flat_in.view(np.uint64), flat_out.view(np.uint64), *fmt.kernel_args(),
                    mode_code, key, np.uint64(offset))
    elif x.dtype == np.float32:
        # float32 values are exact in float64: round those bits, store the (float32) results
        wide = flat_in.astype(np.float64)
        rounded = np.empty_like(wide)
        round_bits_into(wide.view(np.uint64), rounded.view(np.uint64), *float32_args(fmt),
                    mode_code, key, np.uint64(offset))
        flat_out[...] = rounded
    else:
        raise TypeError(f"round_array needs float64 or float32 data, got {x.dtype}")
    return out
