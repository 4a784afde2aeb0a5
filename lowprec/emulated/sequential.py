"""numba kernels for the `sequential` policy: every multiply and add rounded, in a fixed order.

This is what rpe did inside SPEEDY's loops: a sum is a chain of rounded additions, left to right,
and a dot product is a chain of rounded products each added (rounded) to a rounded running sum.

Speed: the contraction kernel advances the outputs along one output index (the "inner" one,
up to `BLOCK` of them) one summed term at a time, so that each operation is a loop over
independent outputs whose operands lie at a fixed stride (for a matmul: a broadcast row value
times a contiguous row of the other operand), which vectorises, with the rounding inline
(`roundop.py`; kernels compiled per rounding flavour). The order of the operations of each
output element is unchanged (left to right along the summed indices); only independent chains
are interleaved. (Before: one output at a time, through `round_scalar` per operation: ~10 ns
per operation, a latency-bound chain; now ~0.5 ns nearest, ~1 ns stochastic.)

Zero terms: where the broadcast operand x of a dot product is ±0 for a summed term q (the
triangle's zeros l < m of a spectral field, in the Legendre sums to the grid), the kernel adds
x·y to the running sums unrounded and draws no random bits. This is exact, not an
approximation: x·y is then ±0, or NaN (for y = ±inf or NaN), the running sum is a value of the
format (a rounding's output, or 0), and their sum is that value, +0 or NaN: every rounding mode
leaves those unchanged (no bit is dropped, so the random bits do not matter), so the results
are bit for bit those of rounding both operations. It saves the roundings and the random bits'
hash of those terms. (Skipping the leading zeros of the other operand's row as well, the
Legendre tables' l < m in the sums to spectral space, was measured slower on the GCM's step,
and is not done.)

Random bits: element-operation `i` of compound operation number `counter` under `seed` draws
`randombits.mix(seed, counter, i)` (the kernels hash the per-operation key once and then each
index, which gives the same bits). How `i` enumerates the operations is part of the definition:

    contraction (einsum, matmul, dot, sum): n operands, output element p (C order) and summed
    term q (C order over the summed indices), term q = x0 * x1 * ... * x_{n-1} formed left to right
        product j (1 <= j < n):   i = offset + (p * Q + q) * n + (j - 1)
        running sum s += term:    i = offset + (p * Q + q) * n + (n - 1)
    (with one complex operand: its real parts' contraction with offset 0, then its imaginary
    parts' with offset n * P * Q)
    cumulative sum along a row m of length K (row-major (M, K)):
        partial sum s += x[m, k]: i = m * K + k
The running sums start at 0, so the first term is rounded too (0 + x[0] is x[0] rounded to the
active format, as `s = 0; s = s + x(1)` is in a Fortran loop under rpe): every output is a
value of the active format. An empty sum is 0.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from lowprec.emulated import roundop
from lowprec.rounding.kernels import round_scalar
from lowprec.rounding.randombits import GOLDEN, fmix64, stream_key

__all__ = ["contract", "cumulative_sum", "ContractionLayout"]

_STOCHASTIC = 1
_U0 = np.uint64(0)
_U1 = np.uint64(1)
BLOCK = 1024          # output elements advanced together: the accumulators stay in L1


class ContractionLayout(NamedTuple):
    """Where the operands of a contraction lie in its buffer, output by output.

    Outputs p (C order over the output indices; size: their number) are taken as Po rows of
    N along one "inner" output index: p = p_o[po] + r·pin for r < N. Operand j's value for
    output (po, r) and summed term q is buf[off_o[j, po] + r·strides[j] + off_q[j, q]].
    """

    off_o: np.ndarray        # (n, Po) int64
    p_o: np.ndarray          # (Po,) int64
    strides: np.ndarray      # (n,) int64
    off_q: np.ndarray        # (n, Q) int64
    N: int
    pin: int
    size: int                # P, the number of outputs


# Plain functions, made into numba functions per rounding flavour by `roundop.specialise`:
# `rnd` is bound to the flavour's rounder (or the exact one), the kernel's `*_x` to the exact
# rows and `check` to whether the flavour is tracked (`roundop`).
# A row function sums, for nb outputs r (random-bit index i0 + r·di + q·n + ...), all Q terms
# left to right; operand j's value for output r and term q is buf[a_j + r·s_j + oq[j, q]].
# It returns whether a value left the fast recipe's range; a tracked flavour then does the
# whole row again with the exact rounder (its inputs are unchanged).
rnd = roundop.ROUNDERS[roundop.NEAREST]           # placeholders: bound per flavour
check = False


def _sum_row(out, buf, a, s, oq, nb, i0, di, c, acc):
    """out[r] = (x_r0 + x_r1) + ...: one operand, a plain sum."""
    a0, s0 = a[0], s[0]
    acc[:nb] = 0.0
    slow = False
    for q in range(oq.shape[1]):
        b0 = a0 + oq[0, q]
        iq = i0 + np.uint64(q)
        for r in range(nb):
            acc[r], f = rnd(acc[r] + buf[b0 + r * s0], c, iq + np.uint64(r) * di)
            slow |= f
    out[:nb] = acc[:nb]
    return slow


def _dot_row(out, buf, a, s, oq, nb, i0, di, c, acc):
    """out[r] = (x_r0·y_r0 + x_r1·y_r1) + ...: two operands (matmul, most einsums)."""
    a0, s0, a1, s1, j0, j1 = a[0], s[0], a[1], s[1], 0, 1
    if s1 == 0 and s0 != 0:                           # x·y = y·x exactly: broadcast one first
        a0, s0, a1, s1, j0, j1 = a1, s1, a0, s0, 1, 0
    acc[:nb] = 0.0
    slow = False
    for q in range(oq.shape[1]):
        b0, b1 = a0 + oq[j0, q], a1 + oq[j1, q]
        iq = i0 + np.uint64(2 * q)
        if s0 == 0 and s1 == 1:                       # a matmul: A's value times B's row
            x = buf[b0]
            if x == 0.0:                              # exact: see "Zero terms" above
                for r in range(nb):
                    acc[r] = acc[r] + x * buf[b1 + r]
                continue
            for r in range(nb):
                i = iq + np.uint64(r) * di
                t, f1 = rnd(x * buf[b1 + r], c, i)
                acc[r], f2 = rnd(acc[r] + t, c, i + _U1)
                slow |= f1 | f2
        elif s0 == 0:
            x = buf[b0]
            if x == 0.0:
                for r in range(nb):
                    acc[r] = acc[r] + x * buf[b1 + r * s1]
                continue
            for r in range(nb):
                i = iq + np.uint64(r) * di
                t, f1 = rnd(x * buf[b1 + r * s1], c, i)
                acc[r], f2 = rnd(acc[r] + t, c, i + _U1)
                slow |= f1 | f2
        else:
            for r in range(nb):
                i = iq + np.uint64(r) * di
                t, f1 = rnd(buf[b0 + r * s0] * buf[b1 + r * s1], c, i)
                acc[r], f2 = rnd(acc[r] + t, c, i + _U1)
                slow |= f1 | f2
    out[:nb] = acc[:nb]
    return slow


def _product_row(out, buf, a, s, oq, nb, i0, di, c, acc):
    """out[r] = Σ_q ((x0·x1)·x2)·...: three or more operands."""
    n = a.shape[0]
    acc[:nb] = 0.0
    slow = False
    for q in range(oq.shape[1]):
        iq = i0 + np.uint64(n * q)
        for r in range(nb):
            i = iq + np.uint64(r) * di
            t = buf[a[0] + oq[0, q] + r * s[0]]
            for j in range(1, n):
                t, f = rnd(t * buf[a[j] + oq[j, q] + r * s[j]], c, i + np.uint64(j - 1))
                slow |= f
            acc[r], f = rnd(acc[r] + t, c, i + np.uint64(n - 1))
            slow |= f
    out[:nb] = acc[:nb]
    return slow


_sum_row_x, _dot_row_x, _product_row_x = _sum_row, _dot_row, _product_row


def _kernel(buf, off_o, p_o, strides, off_q, N, pin, out, params, counter, offset):
    c = roundop.recipe(params, counter)
    n, Po = off_o.shape
    Q = off_q.shape[1]
    Qn = np.uint64(Q) * np.uint64(n)                  # index step from one output to the next
    di = np.uint64(pin) * Qn
    width = max(1, min(N, BLOCK))
    acc = np.empty(width)
    sums = np.empty(width)
    a = np.empty(n, dtype=np.int64)
    for po in range(Po):
        for r0 in range(0, N, BLOCK):
            nb = min(BLOCK, N - r0)
            p0 = p_o[po] + r0 * pin                   # the block's first output element
            for j in range(n):
                a[j] = off_o[j, po] + r0 * strides[j]
            i0 = np.uint64(offset) + np.uint64(p0) * Qn
            args = (sums, buf, a, strides, off_q, nb, i0, di, c, acc)
            if n == 1:
                if _sum_row(*args) and check:
                    _sum_row_x(*args)
            elif n == 2:
                if _dot_row(*args) and check:
                    _dot_row_x(*args)
            elif _product_row(*args) and check:
                _product_row_x(*args)
            for r in range(nb):
                out[p0 + r * pin] = sums[r]


def _build(f: int):
    """The contraction kernel of rounding flavour f (`roundop.flavour`)."""
    check_ = roundop.tracked(f)
    steps = (_sum_row, _dot_row, _product_row)
    bound = {fn.__name__: roundop.specialise(fn, f"f{f}", rnd=roundop.ROUNDERS[f])
             for fn in steps}
    for fn in steps:
        bound[fn.__name__ + "_x"] = (roundop.specialise(fn, f"f{f}x", rnd=roundop.exact)
                                     if check_ else bound[fn.__name__])
    return roundop.specialise(_kernel, f"f{f}", cache=True, check=check_, **bound)


_KERNELS: dict[int, object] = {}


@njit(cache=True)
def _cumsum_kernel(x, out, sbits, emin, emax, restricted, subnormals, mode, key):
    M, K = x.shape
    rbits = _U0
    for m in range(M):
        acc = 0.0
        for k in range(K):
            if mode == _STOCHASTIC:
                rbits = fmix64(key ^ ((np.uint64(m) * np.uint64(K) + np.uint64(k)) * GOLDEN))
            acc = round_scalar(acc + x[m, k], sbits, emin, emax, restricted, subnormals, mode,
                               rbits)
            out[m, k] = acc


def contract(buf: np.ndarray, layout: ContractionLayout, params: np.ndarray, counter: int,
             offset: int = 0, flavour: int | None = None) -> np.ndarray:
    """Sequentially rounded contraction: out[p] = Σ_q Π_j buf[offset_j(p) + off_q[j, q]].

    buf: float64, the operands' values side by side; layout: where operand j's value for
    output p and summed term q lies (`compound.contraction_layout`). params: packed rounding
    parameters (`kernels.round_params`); counter: the operation's counter value; offset: the
    first random-bit index; flavour: `roundop.flavour(params)`, if known. Returns float64
    (P,); an empty sum (Q = 0) is 0.
    """
    out = np.empty(layout.size, dtype=np.float64)
    if layout.size == 0:
        return out
    f = roundop.flavour(params) if flavour is None else flavour
    kernel = _KERNELS.get(f)
    if kernel is None:
        kernel = _KERNELS[f] = _build(f)
    kernel(buf, layout.off_o, layout.p_o, layout.strides, layout.off_q, layout.N, layout.pin,
           out, params, np.uint64(counter), np.uint64(offset))
    return out


def cumulative_sum(x: np.ndarray, kernel_args: tuple, mode_code: int, seed: int,
                   counter: int) -> np.ndarray:
    """Partial sums of each row of x (float64, (M, K)), each one rounded, left to right."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    key = np.uint64(stream_key(np.uint64(seed), np.uint64(counter)))   # numba boxes it as int
    _cumsum_kernel(x, out, *kernel_args, mode_code, key)
    return out
