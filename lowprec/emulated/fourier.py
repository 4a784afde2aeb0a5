"""The sequential policy's FFT: mixed-radix Cooley–Tukey butterflies, every operation rounded.

Why an FFT and not a DFT: the sequential policy models a computation a real model performs, op
by op (rpe inside SPEEDY's loops). Real models transform with FFTs. A rounded FFT's error grows
like log n (each value passes through log n butterflies), a rounded DFT's like n (each output is
a running sum of n products), so a rounded DFT would model a computation nobody performs.

Structure (all of it is semantics under emulation: the order of operations fixes the result)
-------------------------------------------------------------------------------------------
Complex FFT of length m, X_k = Σ_t z_t e^(∓2πi kt/m) (− forward, + inverse), decimation in time
over the radices of m in execution order: 4s first, then a 2, then odd primes ascending
(96 = 4·4·2·3, 48 = 4·4·3, 64 = 4·4·4, 32 = 4·4·2). Stage s (radix p, L_prev the product of
the radices before it, L = p·L_prev) turns the length-L_prev transforms of the subsequences
z[c::m/L_prev] into the length-L transforms of z[c::m/L], for c < m/L (Stockham order, so the
last stage leaves X in natural order). Butterfly (c, k), k < L_prev, has inputs
Y_j = (transform of z[c + j·m/L :: m/L_prev])_k, j < p, and outputs X_(k + L_prev·q), q < p:

    twiddles   Z_0 = Y_0; Z_j = ŵ_jk · Y_j for j >= 1, none when k = 0 (every ŵ_j0 = 1):
               ŵ_jk = e^(∓2πi jk/L) rounded to nearest, each complex product as
               t1 = a·c, t2 = b·d, t3 = a·d, t4 = b·c, re = t1 − t2, im = t3 + t4
    radix 2    X_0 = Z_0 + Z_1, X_1 = Z_0 − Z_1
    radix 4    t0 = Z_0 + Z_2, t1 = Z_0 − Z_2, t2 = Z_1 + Z_3, t3 = Z_1 − Z_3,
               X_0 = t0 + t2, X_2 = t0 − t2, X_1 = t1 ∓ i·t3, X_3 = t1 ± i·t3 (·i is exact)
    odd p      (h = (p−1)/2; FFTPACK's general odd butterfly, with pairs (j, p−j); for a prime
               p > 5 it is a rounded DFT of length p)
               t⁺_j = Z_j + Z_(p−j), t⁻_j = Z_j − Z_(p−j)                          j = 1..h
               X_0 = ((Z_0 + t⁺_1) + t⁺_2) + ...
               A_q = ((Z_0 + Ĉ_1q·t⁺_1) + Ĉ_2q·t⁺_2) + ...                          q = 1..h
               B_q = (Ŝ_1q·t⁻_1 + Ŝ_2q·t⁻_2) + ...
               X_q = A_q − i·B_q,  X_(p−q) = A_q + i·B_q
               Ĉ_jq = cos(2π jq/p), Ŝ_jq = ±sin(2π jq/p) (+ forward, − inverse), rounded
Complex additions and real-by-complex products are one rounded operation per component (real,
then imaginary). fft/ifft: this complex FFT, then the normalisation.

Real transforms of even length n = 2m: the half-length complex FFT with the real-to-complex
split (as in KISS FFT's kiss_fftr), not FFTPACK's real butterflies.
    rfft    z_t = x_2t + i·x_(2t+1) (no operation); Z = FFT_m(z); then X_0 = Re Z_0 + Im Z_0,
            X_m = Re Z_0 − Im Z_0 (imaginary parts exactly 0), and for k = 1..m/2, with
            f1 = Z_k + conj Z_(m−k), f2 = Z_k − conj Z_(m−k), h = 0.5·f1, g = v̂_k·f2,
            v_k = −½ i e^(−2πik/n):   X_k = h + g,  X_(m−k) = conj(h − g)  (once if k = m−k)
    irfft   (Im X_0 and Im X_m ignored, as numpy does) Z'_0 = (X_0 + X_m) + i (X_0 − X_m), and
            for k = 1..m/2, f1 = X_k + conj X_(m−k), f2 = X_k − conj X_(m−k), g = û_k·f2,
            u_k = i e^(2πik/n):  Z'_k = f1 + g, Z'_(m−k) = conj(f1 − g);  w = inverse FFT_m(Z')
            (unnormalised); x_2t = Re w_t, x_(2t+1) = Im w_t, times 1/n (below).
Odd n: rfft is the complex FFT of x + 0i (its first n//2 + 1 outputs); irfft the inverse
complex FFT of the Hermitian extension of X (Im X_0 set to 0), its real parts. (Operations on
the zero imaginary parts are exact; the discarded ones are still counted.)
Normalisation (numpy's `norm`): the outputs are multiplied by the rounded constant 1/n or 1/√n
at the end, one rounded product per real value (none when the factor is 1).

Stochastic rounding: one counter value per call (like every compound operation); the rounded
operation in slot j of row r (rows: the other axes, flattened in C order) draws
mix(seed, counter, r·T + j), T = `FourierPlan.slots`. Slots, in order: the irfft pre-split
(2 + 14 per pair k), then the stages (butterfly b = c·L_prev + k of a radix-p stage owns
6(p−1) + K_p slots, its twiddle products first, j = 1..p−1, six each, then the butterfly's
operations in the order written above: K_2 = 4, K_4 = 16, K_p = 8h² + 8h), then the rfft
split (2 + 16 per pair), then the normalisation (one per output value, interleaved re, im).
Slots of omitted operations (twiddles at k = 0, the second output of a self-paired k) are
skipped, so every operation keeps its index whatever is omitted around it.

Speed: the kernel transforms up to `BLOCK_ROWS` rows at once with the rows innermost, so every
operation is one vectorised loop over rows with the rounding inline (`roundop.py`; a kernel per
rounding flavour). Measured on (8, 48, 96) rfft/irfft: ~0.5 ns per rounded operation nearest,
~0.9 ns stochastic (the random bits' hash), 2.5× / 4.7× numpy's float64 rfft rounded once
(benchmarks/bench_compound.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from lowprec.emulated import roundop
from lowprec.emulated.twiddles import unit_roots
from lowprec.formats import Format
from lowprec.rounding import kernels

__all__ = ["FourierPlan", "plan", "radices", "transform", "operation_count"]

KINDS = ("fft", "ifft", "rfft", "irfft")
NORMS = ("backward", "ortho", "forward")
BLOCK_ROWS = 256          # rows transformed together: the work buffers stay in L2

# the kernel's cases
_COMPLEX, _RFFT_EVEN, _IRFFT_EVEN, _RFFT_ODD, _IRFFT_ODD = range(5)
# header of FourierPlan.ints
(_H_CASE, _H_M, _H_STAGES, _H_SLOTS, _H_INVERSE, _H_PRE, _H_POST, _H_SCALE, _H_SCALED,
 _H_SPLIT, _H_FACTOR, _H_F, _H_N, _H_PMAX) = range(14)
_HEADER = 14
_STAGE = 5                # p, L_prev, slot base, twiddle base, odd-radix constants base
_TWIDDLE_SLOTS = 6
_PRE_PAIR, _POST_PAIR = 14, 16


def radices(m: int) -> tuple[int, ...]:
    """The radices of a length-m complex FFT in execution order: 4s, a 2, odd primes up."""
    out = []
    while m % 4 == 0:
        out.append(4)
        m //= 4
    if m % 2 == 0:
        out.append(2)
        m //= 2
    p = 3
    while m > 1:
        if p * p > m:
            out.append(m)
            break
        while m % p == 0:
            out.append(p)
            m //= p
        p += 2
    return tuple(out)


def _butterfly_slots(p: int) -> int:
    """K_p: the operations of one radix-p butterfly after its twiddles."""
    if p == 2:
        return 4
    if p == 4:
        return 16
    h = (p - 1) // 2
    return 8 * h * h + 8 * h


@dataclass(frozen=True)
class FourierPlan:
    """Everything a sequential transform of one (kind, n, norm, format) needs, made once.

    m: the complex FFT's length inside; slots: T, random-bit indices per row; operations: the
    rounded operations per row (slots minus the omitted ones); ints, consts: the kernel's
    layout and its constants (twiddles, butterfly and split constants, the normalisation),
    rounded to nearest in the format.
    """

    kind: str
    n: int
    norm: str
    m: int
    radices: tuple[int, ...]
    slots: int
    operations: int
    ints: np.ndarray
    consts: np.ndarray

    @property
    def n_in(self) -> int:
        """Values per row the kernel reads: complex values, or real ones for rfft."""
        return self.n if self.kind in ("rfft", "fft", "ifft") else self.n // 2 + 1

    @property
    def n_out(self) -> int:
        """Values per row the kernel writes: complex values, or real ones for irfft."""
        return self.n // 2 + 1 if self.kind == "rfft" else self.n


def _norm_factor(norm: str, n: int, inverse: bool) -> float:
    """numpy's normalisation factor: 1/n on the side `norm` names, 1/√n both ways if ortho."""
    if norm == "ortho":
        return 1.0 / math.sqrt(n)
    return 1.0 / n if (norm == "backward") == inverse else 1.0


@lru_cache(maxsize=128)
def plan(kind: str, n: int, norm: str, fmt: Format) -> FourierPlan:
    """The plan of numpy.fft.<kind> of length n (the output's length for irfft) in `fmt`."""
    if kind not in KINDS or norm not in NORMS:
        raise ValueError(f"fourier.plan: kind {kind!r}, norm {norm!r}; allowed kinds "
                         f"{KINDS}, norms {NORMS}")
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    inverse = kind in ("ifft", "irfft")
    real = kind in ("rfft", "irfft")
    even_split = real and n % 2 == 0
    m = n // 2 if even_split else n
    case = {("fft", False): _COMPLEX, ("ifft", False): _COMPLEX,
            ("rfft", True): _RFFT_EVEN, ("irfft", True): _IRFFT_EVEN,
            ("rfft", False): _RFFT_ODD, ("irfft", False): _IRFFT_ODD}[kind, even_split]
    cos, sin = unit_roots(n)
    sign = 1.0 if inverse else -1.0              # e^(∓iθ): forward −, inverse +
    consts: list[float] = [0.5]                  # consts[0]: the split's ½
    ints = [0] * _HEADER
    slot = ops = 0
    pairs = m // 2 if even_split else 0
    if case == _IRFFT_EVEN:                      # the pre-split
        ints[_H_PRE] = slot
        slot += 2 + _PRE_PAIR * pairs
        ops += 2 + _PRE_PAIR * pairs - (2 if m % 2 == 0 and m > 1 else 0)
    stage_rows = []
    L_prev = 1
    step = n // m                                # angle 2π a/L is index a·(n/L) of the table
    for p in radices(m):
        L = L_prev * p
        tw_base = len(consts)
        for j in range(1, p):
            for k in range(L_prev):
                a = (j * k * (m // L) * step) % n
                consts += [cos[a], sign * sin[a]]
        bc_base = len(consts)
        h = (p - 1) // 2
        if p % 2:
            for table, sgn in ((cos, 1.0), (sin, -sign)):   # Ŝ: +sin forward, −sin inverse
                for j in range(1, h + 1):
                    for q in range(1, h + 1):
                        consts.append(sgn * table[(j * q % p) * (n // p)])
        butterflies = m // p
        per = _TWIDDLE_SLOTS * (p - 1) + _butterfly_slots(p)
        stage_rows.append((p, L_prev, slot, tw_base, bc_base))
        slot += butterflies * per
        twiddled = (m // L) * (L_prev - 1)       # butterflies with k > 0
        ops += butterflies * _butterfly_slots(p) + twiddled * _TWIDDLE_SLOTS * (p - 1)
        L_prev = L
    if case in (_RFFT_EVEN, _IRFFT_EVEN):
        ints[_H_SPLIT] = len(consts)
        for k in range(1, pairs + 1):
            if case == _RFFT_EVEN:               # v_k = −½ i e^(−iθ) = −½ sin θ − ½ i cos θ
                consts += [-0.5 * sin[k], -0.5 * cos[k]]
            else:                                # u_k = i e^(iθ) = −sin θ + i cos θ
                consts += [-sin[k], cos[k]]
    if case == _RFFT_EVEN:
        ints[_H_POST] = slot
        slot += 2 + _POST_PAIR * pairs
        ops += 2 + _POST_PAIR * pairs - (2 if m % 2 == 0 and m > 1 else 0)
    factor = _norm_factor(norm, n, inverse)
    n_values = 2 * (n // 2 + 1) if kind == "rfft" else (n if kind == "irfft" else 2 * n)
    ints[_H_SCALE] = slot
    if factor != 1.0:
        ints[_H_SCALED] = 1
        slot += n_values
        ops += n_values
    ints[_H_FACTOR] = len(consts)
    consts.append(factor)
    ints[_H_CASE], ints[_H_M], ints[_H_STAGES] = case, m, len(stage_rows)
    ints[_H_SLOTS], ints[_H_INVERSE], ints[_H_F], ints[_H_N] = slot, int(inverse), n // 2 + 1, n
    ints[_H_PMAX] = max([p for p, *_ in stage_rows], default=1)
    layout = np.array(ints + [v for row in stage_rows for v in row], dtype=np.int64)
    table = kernels.round_array(np.array(consts, dtype=np.float64), fmt, 0)   # nearest
    layout.flags.writeable = table.flags.writeable = False
    return FourierPlan(kind, n, norm, m, radices(m), slot, ops, layout, table)


def operation_count(kind: str, n: int) -> int:
    """Rounded operations of one sequential transform of length n (default normalisation)."""
    return plan(kind, n, "backward", Format(10)).operations


# --- the kernel ----------------------------------------------------------------------------
# Every operation is a loop over the rows of a block (innermost, so that it vectorises) with the
# rounding inline. Kernels are built per rounding flavour (`roundop`): `_loops(rnd)` makes the
# loops for one rounder, `_build(f)` the drivers and the kernel of flavour f, which for a tracked
# flavour redo a step with the exact rounder when a value left the fast recipe's range.
_U1 = np.uint64(1)


@njit(inline="always")
def _idx(row, T, slot):
    return np.uint64(row) * T + np.uint64(slot)


# Plain functions, made into numba functions per rounder by `roundop.specialise`: their
# globals `rnd` (the rounder), `_cmul` and `_vop` are bound to one rounder's versions.
rnd = roundop.ROUNDERS[roundop.NEAREST]           # a placeholder: bound per rounder


def _cmul(zr, zi, wr, wi, c, i):
    """ŵ·z: t1 = a·c, t2 = b·d, t3 = a·d, t4 = b·c, re = t1 − t2, im = t3 + t4."""
    t1, s1 = rnd(zr * wr, c, i)
    t2, s2 = rnd(zi * wi, c, i + np.uint64(1))
    t3, s3 = rnd(zr * wi, c, i + np.uint64(2))
    t4, s4 = rnd(zi * wr, c, i + np.uint64(3))
    re, s5 = rnd(t1 - t2, c, i + np.uint64(4))
    im, s6 = rnd(t3 + t4, c, i + np.uint64(5))
    return re, im, s1 | s2 | s3 | s4 | s5 | s6


def _twiddle(yr, yi, zr, zi, wr, wi, nb, row0, T, slot, c):
    """z = ŵ·y over rows (slots slot..slot+5)."""
    slow = False
    for r in range(nb):
        zr[r], zi[r], s = _cmul(yr[r], yi[r], wr, wi, c, _idx(row0 + r, T, slot))
        slow |= s
    return slow


def _radix2(y, x, nb, row0, T, slot, c):
    """Radix-2 butterfly, Z_1 already twiddled; y, x: (re, im) of inputs 0, 1, outputs."""
    y0r, y0i, y1r, y1i = y
    x0r, x0i, x1r, x1i = x
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        x0r[r], s1 = rnd(y0r[r] + y1r[r], c, i)
        x0i[r], s2 = rnd(y0i[r] + y1i[r], c, i + np.uint64(1))
        x1r[r], s3 = rnd(y0r[r] - y1r[r], c, i + np.uint64(2))
        x1i[r], s4 = rnd(y0i[r] - y1i[r], c, i + np.uint64(3))
        slow |= s1 | s2 | s3 | s4
    return slow


def _radix3(y, x, C, S, nb, row0, T, slot, c):
    """Radix-3 butterfly (the odd-radix one with h = 1), inputs twiddled."""
    y0r, y0i, y1r, y1i, y2r, y2i = y
    x0r, x0i, x1r, x1i, x2r, x2i = x
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        tpr, s1 = rnd(y1r[r] + y2r[r], c, i)
        tpi, s2 = rnd(y1i[r] + y2i[r], c, i + np.uint64(1))
        tmr, s3 = rnd(y1r[r] - y2r[r], c, i + np.uint64(2))
        tmi, s4 = rnd(y1i[r] - y2i[r], c, i + np.uint64(3))
        x0r[r], s5 = rnd(y0r[r] + tpr, c, i + np.uint64(4))
        x0i[r], s6 = rnd(y0i[r] + tpi, c, i + np.uint64(5))
        mr, s7 = rnd(C * tpr, c, i + np.uint64(6))
        mi, s8 = rnd(C * tpi, c, i + np.uint64(7))
        ar, s9 = rnd(y0r[r] + mr, c, i + np.uint64(8))
        ai, s10 = rnd(y0i[r] + mi, c, i + np.uint64(9))
        br, s11 = rnd(S * tmr, c, i + np.uint64(10))
        bi, s12 = rnd(S * tmi, c, i + np.uint64(11))
        x1r[r], s13 = rnd(ar + bi, c, i + np.uint64(12))          # A − iB
        x1i[r], s14 = rnd(ai - br, c, i + np.uint64(13))
        x2r[r], s15 = rnd(ar - bi, c, i + np.uint64(14))          # A + iB
        x2i[r], s16 = rnd(ai + br, c, i + np.uint64(15))
        slow |= (s1 | s2 | s3 | s4 | s5 | s6 | s7 | s8 | s9 | s10 | s11 | s12 | s13 | s14
                 | s15 | s16)
    return slow


def _radix4(y, x, inverse, nb, row0, T, slot, c):
    """Radix-4 butterfly, inputs twiddled; y, x: (re, im) of 0, 1, 2, 3."""
    y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i = y
    x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i = x
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        t0r, a0 = rnd(y0r[r] + y2r[r], c, i)
        t0i, a1 = rnd(y0i[r] + y2i[r], c, i + np.uint64(1))
        t1r, a2 = rnd(y0r[r] - y2r[r], c, i + np.uint64(2))
        t1i, a3 = rnd(y0i[r] - y2i[r], c, i + np.uint64(3))
        t2r, a4 = rnd(y1r[r] + y3r[r], c, i + np.uint64(4))
        t2i, a5 = rnd(y1i[r] + y3i[r], c, i + np.uint64(5))
        t3r, a6 = rnd(y1r[r] - y3r[r], c, i + np.uint64(6))
        t3i, a7 = rnd(y1i[r] - y3i[r], c, i + np.uint64(7))
        # ∓i·t3: forward −i·t3 = (t3i, −t3r), inverse +i·t3 = (−t3i, t3r); negation is exact
        ur = -t3i if inverse else t3i
        ui = t3r if inverse else -t3r
        x0r[r], b0 = rnd(t0r + t2r, c, i + np.uint64(8))
        x0i[r], b1 = rnd(t0i + t2i, c, i + np.uint64(9))
        x2r[r], b2 = rnd(t0r - t2r, c, i + np.uint64(10))
        x2i[r], b3 = rnd(t0i - t2i, c, i + np.uint64(11))
        x1r[r], b4 = rnd(t1r + ur, c, i + np.uint64(12))
        x1i[r], b5 = rnd(t1i + ui, c, i + np.uint64(13))
        x3r[r], b6 = rnd(t1r - ur, c, i + np.uint64(14))
        x3i[r], b7 = rnd(t1i - ui, c, i + np.uint64(15))
        slow |= a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7 | b0 | b1 | b2 | b3 | b4 | b5 | b6 | b7
    return slow


def _vop(out, a, b, k, op, nb, row0, T, slot, c):
    """out[r] = a[r] + b[r] (op 0), a[r] − b[r] (op 1), or k·a[r] (op 2), rounded."""
    slow = False
    for r in range(nb):
        x = a[r] + b[r] if op == 0 else a[r] - b[r] if op == 1 else k * a[r]
        out[r], s = rnd(x, c, _idx(row0 + r, T, slot))
        slow |= s
    return slow


def _rfft_pair(zr, zi, xr, xi, m, k, vr, vi, nb, row0, T, slot, c):
    """rfft split: X_k and X_(m−k) (1 <= k <= m/2) from Z, over rows."""
    both = k != m - k
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        ar, ai, br, bi = zr[k, r], zi[k, r], zr[m - k, r], zi[m - k, r]
        f1r, s0 = rnd(ar + br, c, i)                              # Z_k + conj Z_(m−k)
        f1i, s1 = rnd(ai - bi, c, i + np.uint64(1))
        f2r, s2 = rnd(ar - br, c, i + np.uint64(2))               # Z_k − conj Z_(m−k)
        f2i, s3 = rnd(ai + bi, c, i + np.uint64(3))
        hr, s4 = rnd(0.5 * f1r, c, i + np.uint64(4))
        hi, s5 = rnd(0.5 * f1i, c, i + np.uint64(5))
        gr, gi, s6 = _cmul(f2r, f2i, vr, vi, c, i + np.uint64(6))
        xr[k, r], s7 = rnd(hr + gr, c, i + np.uint64(12))
        xi[k, r], s8 = rnd(hi + gi, c, i + np.uint64(13))
        s9 = s10 = False
        if both:                                                  # conj(h − g)
            xr[m - k, r], s9 = rnd(hr - gr, c, i + np.uint64(14))
            xi[m - k, r], s10 = rnd(gi - hi, c, i + np.uint64(15))
        slow |= s0 | s1 | s2 | s3 | s4 | s5 | s6 | s7 | s8 | s9 | s10
    return slow


def _irfft_pair(xr, xi, zr, zi, m, k, ur, ui, nb, row0, T, slot, c):
    """irfft pre-split: Z'_k and Z'_(m−k) (1 <= k <= m/2) from X, over rows."""
    both = k != m - k
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        ar, ai, br, bi = xr[k, r], xi[k, r], xr[m - k, r], xi[m - k, r]
        f1r, s0 = rnd(ar + br, c, i)                              # X_k + conj X_(m−k)
        f1i, s1 = rnd(ai - bi, c, i + np.uint64(1))
        f2r, s2 = rnd(ar - br, c, i + np.uint64(2))               # X_k − conj X_(m−k)
        f2i, s3 = rnd(ai + bi, c, i + np.uint64(3))
        gr, gi, s4 = _cmul(f2r, f2i, ur, ui, c, i + np.uint64(4))
        zr[k, r], s5 = rnd(f1r + gr, c, i + np.uint64(10))
        zi[k, r], s6 = rnd(f1i + gi, c, i + np.uint64(11))
        s7 = s8 = False
        if both:                                                  # conj(f1 − g)
            zr[m - k, r], s7 = rnd(f1r - gr, c, i + np.uint64(12))
            zi[m - k, r], s8 = rnd(gi - f1i, c, i + np.uint64(13))
        slow |= s0 | s1 | s2 | s3 | s4 | s5 | s6 | s7 | s8
    return slow


def _odd(y, x, p, C, S, nb, row0, T, slot, c, scratch):
    """Radix-p butterfly (p odd), operation by operation over rows, inputs twiddled.
    y, x: (2p, B) arrays of the inputs' and outputs' (re, im) rows; scratch: (4h + 6, B)."""
    h = (p - 1) // 2
    tpr, tpi, tmr, tmi = (scratch[0:h], scratch[h:2 * h], scratch[2 * h:3 * h],
                          scratch[3 * h:4 * h])
    e = 4 * h
    ar, ai, br, bi, mr, mi = (scratch[e], scratch[e + 1], scratch[e + 2], scratch[e + 3],
                              scratch[e + 4], scratch[e + 5])
    slow = False
    o = slot
    for j in range(1, h + 1):                # t⁺_j = Z_j + Z_(p−j), t⁻_j = Z_j − Z_(p−j)
        slow |= _vop(tpr[j - 1], y[2 * j], y[2 * (p - j)], 0.0, 0, nb, row0, T, o, c)
        slow |= _vop(tpi[j - 1], y[2 * j + 1], y[2 * (p - j) + 1], 0.0, 0, nb, row0, T,
                    o + 1, c)
        slow |= _vop(tmr[j - 1], y[2 * j], y[2 * (p - j)], 0.0, 1, nb, row0, T, o + 2, c)
        slow |= _vop(tmi[j - 1], y[2 * j + 1], y[2 * (p - j) + 1], 0.0, 1, nb, row0, T,
                    o + 3, c)
        o += 4
    x[0, :nb] = y[0, :nb]                    # X_0 = ((Z_0 + t⁺_1) + t⁺_2) + ...
    x[1, :nb] = y[1, :nb]
    for j in range(1, h + 1):
        slow |= _vop(x[0], x[0], tpr[j - 1], 0.0, 0, nb, row0, T, o, c)
        slow |= _vop(x[1], x[1], tpi[j - 1], 0.0, 0, nb, row0, T, o + 1, c)
        o += 2
    for q in range(1, h + 1):
        ar[:nb] = y[0, :nb]                  # A_q = ((Z_0 + Ĉ_1q t⁺_1) + Ĉ_2q t⁺_2) + ...
        ai[:nb] = y[1, :nb]
        for j in range(1, h + 1):
            k = C[(j - 1) * h + q - 1]
            slow |= _vop(mr, tpr[j - 1], mr, k, 2, nb, row0, T, o, c)
            slow |= _vop(mi, tpi[j - 1], mi, k, 2, nb, row0, T, o + 1, c)
            slow |= _vop(ar, ar, mr, 0.0, 0, nb, row0, T, o + 2, c)
            slow |= _vop(ai, ai, mi, 0.0, 0, nb, row0, T, o + 3, c)
            o += 4
        for j in range(1, h + 1):            # B_q = (Ŝ_1q t⁻_1 + Ŝ_2q t⁻_2) + ...
            k = S[(j - 1) * h + q - 1]
            if j == 1:
                slow |= _vop(br, tmr[0], br, k, 2, nb, row0, T, o, c)
                slow |= _vop(bi, tmi[0], bi, k, 2, nb, row0, T, o + 1, c)
                o += 2
            else:
                slow |= _vop(mr, tmr[j - 1], mr, k, 2, nb, row0, T, o, c)
                slow |= _vop(mi, tmi[j - 1], mi, k, 2, nb, row0, T, o + 1, c)
                slow |= _vop(br, br, mr, 0.0, 0, nb, row0, T, o + 2, c)
                slow |= _vop(bi, bi, mi, 0.0, 0, nb, row0, T, o + 3, c)
                o += 4
        # X_q = A − iB = (A.re + B.im, A.im − B.re), X_(p−q) = A + iB
        slow |= _vop(x[2 * q], ar, bi, 0.0, 0, nb, row0, T, o, c)
        slow |= _vop(x[2 * q + 1], ai, br, 0.0, 1, nb, row0, T, o + 1, c)
        slow |= _vop(x[2 * (p - q)], ar, bi, 0.0, 1, nb, row0, T, o + 2, c)
        slow |= _vop(x[2 * (p - q) + 1], ai, br, 0.0, 0, nb, row0, T, o + 3, c)
        o += 4
    return slow


def _scale(v, factor, nb, row0, T, slot, c):
    """v[r] = factor·v[r] rounded, in place (the input is kept in `v` where slow)."""
    slow = False
    for r in range(nb):
        v[r], s = rnd(v[r] * factor, c, _idx(row0 + r, T, slot))
        slow |= s
    return slow


def _ends(zr, zi, xr, xi, m, nb, row0, T, slot, c, forward):
    """The k = 0 terms of the splits over rows: rfft X_0 = Re Z_0 + Im Z_0, X_m = Re Z_0 −
    Im Z_0 (imaginary parts 0); irfft Z'_0 = (X_0 + X_m) + i(X_0 − X_m) (real parts)."""
    slow = False
    for r in range(nb):
        i = _idx(row0 + r, T, slot)
        a = zr[0, r]
        b = zi[0, r] if forward else zr[m, r]
        u, s0 = rnd(a + b, c, i)
        v, s1 = rnd(a - b, c, i + _U1)
        if forward:
            xr[0, r], xr[m, r], xi[0, r], xi[m, r] = u, v, 0.0, 0.0
        else:
            xr[0, r], xi[0, r] = u, v
        slow |= s0 | s1
    return slow


# Drivers: plain functions too, bound per flavour to its loops (fast, and `_x`: the exact
# loops that redo a step whose values left the fast range; each step reads what it does not
# write, so it can be redone) and to `check` (whether the flavour is tracked).
check = False                                     # placeholders: bound per flavour
_twiddle_x, _radix2_x, _radix3_x, _radix4_x, _odd_x = _twiddle, _radix2, _radix3, _radix4, _odd
_rfft_pair_x, _irfft_pair_x, _scale_x, _ends_x = _rfft_pair, _irfft_pair, _scale, _ends


def _stage(sr, si, dr, di, m, p, L_prev, slot, tw, C, S, inverse, nb, row0, T, c, z,
          scratch):
    """One radix-p stage of the Stockham DIT FFT on rows 0..nb-1 of the work arrays;
    z: (2p, B) rows for the twiddled inputs."""
    L = L_prev * p
    cols = m // L
    h = (p - 1) // 2
    per = _TWIDDLE_SLOTS * (p - 1) + (4 if p == 2 else 16 if p == 4 else 8 * h * h + 8 * h)
    rin = np.empty(p, dtype=np.int64)
    for col in range(cols):
        for k in range(L_prev):
            for j in range(p):
                rin[j] = (col + j * cols) * L_prev + k
            out0 = col * L + k
            b_slot = slot + (col * L_prev + k) * per
            if k > 0:                        # Z_j = ŵ_jk Y_j, six slots each
                for j in range(1, p):
                    wr = tw[2 * ((j - 1) * L_prev + k)]
                    wi = tw[2 * ((j - 1) * L_prev + k) + 1]
                    at = b_slot + _TWIDDLE_SLOTS * (j - 1)
                    args = (sr[rin[j]], si[rin[j]], z[2 * j], z[2 * j + 1], wr, wi, nb,
                            row0, T, at, c)
                    if _twiddle(*args) and check:
                        _twiddle_x(*args)
            else:
                for j in range(1, p):
                    z[2 * j, :nb] = sr[rin[j], :nb]
                    z[2 * j + 1, :nb] = si[rin[j], :nb]
            at = b_slot + _TWIDDLE_SLOTS * (p - 1)
            if p == 2:
                y2 = (sr[rin[0]], si[rin[0]], z[2], z[3])
                x2 = (dr[out0], di[out0], dr[out0 + L_prev], di[out0 + L_prev])
                if _radix2(y2, x2, nb, row0, T, at, c) and check:
                    _radix2_x(y2, x2, nb, row0, T, at, c)
            elif p == 3:
                y3 = (sr[rin[0]], si[rin[0]], z[2], z[3], z[4], z[5])
                x3 = (dr[out0], di[out0], dr[out0 + L_prev], di[out0 + L_prev],
                      dr[out0 + 2 * L_prev], di[out0 + 2 * L_prev])
                if _radix3(y3, x3, C[0], S[0], nb, row0, T, at, c) and check:
                    _radix3_x(y3, x3, C[0], S[0], nb, row0, T, at, c)
            elif p == 4:
                y4 = (sr[rin[0]], si[rin[0]], z[2], z[3], z[4], z[5], z[6], z[7])
                x4 = (dr[out0], di[out0], dr[out0 + L_prev], di[out0 + L_prev],
                      dr[out0 + 2 * L_prev], di[out0 + 2 * L_prev],
                      dr[out0 + 3 * L_prev], di[out0 + 3 * L_prev])
                if _radix4(y4, x4, inverse, nb, row0, T, at, c) and check:
                    _radix4_x(y4, x4, inverse, nb, row0, T, at, c)
            else:
                z[0, :nb] = sr[rin[0], :nb]
                z[1, :nb] = si[rin[0], :nb]
                x = scratch[4 * h + 6:4 * h + 6 + 2 * p]
                if _odd(z, x, p, C, S, nb, row0, T, at, c, scratch) and check:
                    _odd_x(z, x, p, C, S, nb, row0, T, at, c, scratch)
                for q in range(p):
                    dr[out0 + q * L_prev, :nb] = x[2 * q, :nb]
                    di[out0 + q * L_prev, :nb] = x[2 * q + 1, :nb]


def _kernel(x, out, ints, consts, params, counter):
    c = roundop.recipe(params, counter)
    case, m, nstages = ints[_H_CASE], ints[_H_M], ints[_H_STAGES]
    T = np.uint64(ints[_H_SLOTS])
    inverse = ints[_H_INVERSE] != 0
    F, n, pmax = ints[_H_F], ints[_H_N], ints[_H_PMAX]
    factor = consts[ints[_H_FACTOR]]
    split = consts[ints[_H_SPLIT]:]
    R = x.shape[0]
    B = max(1, min(R, BLOCK_ROWS))
    rows = max(m, F) + 1
    ar, ai = np.empty((rows, B)), np.empty((rows, B))
    br, bi = np.empty((rows, B)), np.empty((rows, B))
    z = np.empty((2 * pmax, B))
    h = (pmax - 1) // 2
    scratch = np.empty((4 * h + 6 + 2 * pmax, B))
    for row0 in range(0, R, B):
        nb = min(B, R - row0)
        # load: rows of x become columns of the work arrays (the rows of data innermost)
        if case == _RFFT_ODD:
            for r in range(nb):
                for t in range(n):
                    ar[t, r] = x[row0 + r, t]
                    ai[t, r] = 0.0
        elif case == _IRFFT_ODD:             # the Hermitian extension, Im X_0 = 0
            for r in range(nb):
                ar[0, r] = x[row0 + r, 0]
                ai[0, r] = 0.0
                for k in range(1, F):
                    ar[k, r] = x[row0 + r, 2 * k]
                    ar[n - k, r] = x[row0 + r, 2 * k]
                    ai[k, r] = x[row0 + r, 2 * k + 1]
                    ai[n - k, r] = -x[row0 + r, 2 * k + 1]
        else:                                # interleaved pairs: z_t, or (x_2t, x_2t+1)
            count = F if case == _IRFFT_EVEN else m
            lr, li = (br, bi) if case == _IRFFT_EVEN else (ar, ai)
            for r in range(nb):
                for t in range(count):
                    lr[t, r] = x[row0 + r, 2 * t]
                    li[t, r] = x[row0 + r, 2 * t + 1]
        if case == _IRFFT_EVEN:              # the pre-split, X in b -> Z' in a
            args0 = (br, bi, ar, ai, m, nb, row0, T, ints[_H_PRE], c, False)
            if _ends(*args0) and check:
                _ends_x(*args0)
            for k in range(1, m // 2 + 1):
                args = (br, bi, ar, ai, m, k, split[2 * k - 2], split[2 * k - 1], nb, row0,
                        T, ints[_H_PRE] + 2 + _PRE_PAIR * (k - 1), c)
                if _irfft_pair(*args) and check:
                    _irfft_pair_x(*args)
        sr, si, dr, di = ar, ai, br, bi
        for s in range(nstages):
            at = _HEADER + _STAGE * s
            p, L_prev, slot = ints[at], ints[at + 1], ints[at + 2]
            tw_base, bc_base = ints[at + 3], ints[at + 4]
            hp = (p - 1) // 2
            _stage(sr, si, dr, di, m, p, L_prev, slot, consts[tw_base:],
                  consts[bc_base:bc_base + hp * hp],
                  consts[bc_base + hp * hp:bc_base + 2 * hp * hp], inverse, nb, row0, T, c,
                  z, scratch)
            sr, si, dr, di = dr, di, sr, si
        if case == _RFFT_EVEN:               # the split, Z in s -> X in d
            args0 = (sr, si, dr, di, m, nb, row0, T, ints[_H_POST], c, True)
            if _ends(*args0) and check:
                _ends_x(*args0)
            for k in range(1, m // 2 + 1):
                args = (sr, si, dr, di, m, k, split[2 * k - 2], split[2 * k - 1], nb, row0,
                        T, ints[_H_POST] + 2 + _POST_PAIR * (k - 1), c)
                if _rfft_pair(*args) and check:
                    _rfft_pair_x(*args)
            sr, si, dr, di = dr, di, sr, si
        # normalisation: one slot per output value (interleaved re, im), then store
        real_out = case == _IRFFT_ODD
        count = (n if case == _IRFFT_ODD or case == _COMPLEX else
                 m if case == _IRFFT_EVEN else F)
        for t in range(count):
            for part in range(1 if real_out else 2):
                v = sr[t] if part == 0 else si[t]
                if ints[_H_SCALED]:
                    at = ints[_H_SCALE] + (t if real_out else 2 * t + part)
                    saved = v[:nb].copy() if check else v[:0]
                    if _scale(v, factor, nb, row0, T, at, c) and check:
                        v[:nb] = saved
                        _scale_x(v, factor, nb, row0, T, at, c)
                if real_out:
                    for r in range(nb):
                        out[row0 + r, t] = v[r]
                else:
                    for r in range(nb):
                        out[row0 + r, 2 * t + part] = v[r]


def _build(f: int):
    """The transform kernel of rounding flavour f (`roundop.flavour`): the loops specialised
    to its rounder (and, if tracked, to the exact one), the drivers to those loops."""
    check = roundop.tracked(f)

    def loops(rounder, suffix):
        cmul = roundop.specialise(_cmul, suffix, inline=True, rnd=rounder)
        vop = roundop.specialise(_vop, suffix, rnd=rounder)
        bound = {"rnd": rounder, "_cmul": cmul, "_vop": vop}
        out = {"_vop": vop}
        for fn in (_twiddle, _radix2, _radix3, _radix4, _odd, _rfft_pair, _irfft_pair, _scale,
                   _ends):
            out[fn.__name__] = roundop.specialise(fn, suffix, **bound)
        return out

    fast = loops(roundop.ROUNDERS[f], f"f{f}")
    slow = loops(roundop.exact, f"f{f}x") if check else fast
    bound = dict(fast, check=check, **{name + "_x": fn for name, fn in slow.items()})
    bound["_stage"] = roundop.specialise(_stage, f"f{f}", **bound)
    return roundop.specialise(_kernel, f"f{f}", cache=True, **bound)


_KERNELS: dict[int, object] = {}


def transform(p: FourierPlan, rows: np.ndarray, params: np.ndarray, counter: int,
              flavour: int | None = None) -> np.ndarray:
    """The sequential transform of each row of `rows` (2-D: (R, n_in), complex128, or float64
    for rfft) with packed rounding parameters (`kernels.round_params`), the counter value and
    the parameters' `roundop.flavour` (if known). Returns (R, n_out), complex128 (float64 for
    irfft)."""
    R = rows.shape[0]
    if p.kind == "rfft":
        x = np.ascontiguousarray(rows, dtype=np.float64)
    else:
        x = np.ascontiguousarray(rows, dtype=np.complex128).view(np.float64)
    out = np.empty((R, p.n_out if p.kind == "irfft" else 2 * p.n_out))
    if R:
        f = roundop.flavour(params) if flavour is None else flavour
        kernel = _KERNELS.get(f)
        if kernel is None:
            kernel = _KERNELS[f] = _build(f)
        kernel(x, out, p.ints, p.consts, params, np.uint64(counter))
    return out if p.kind == "irfft" else out.view(np.complex128)
