"""numba kernels for the `sequential` policy: every multiply and add rounded, in a fixed order.

This is what rpe did inside SPEEDY's loops: a sum is a chain of rounded additions, left to right,
and a dot product is a chain of rounded products each added (rounded) to a rounded running sum.

Speed: the contraction kernel advances all output elements of a block (up to `BLOCK` of them)
one summed term at a time, so that each operation is a loop over independent outputs that
vectorises, with the rounding inline (`roundop.py`; kernels compiled per rounding flavour).
The order of the operations of each output element is unchanged (left to right along the
summed indices); only independent chains are interleaved. (Before: one output at a time,
through `round_scalar` per operation: ~10 ns per operation, a latency-bound chain.)

Random bits: element-operation `i` of compound operation number `counter` under `seed` draws
`randombits.mix(seed, counter, i)` (the kernels hash the per-operation key once and then each
index, which gives the same bits). How `i` enumerates the operations is part of the definition:

    contraction (einsum, matmul, dot, sum): n operands, output element p (C order) and summed
    term q (C order over the summed indices), term q = x0 * x1 * ... * x_{n-1} formed left to right
        product j (1 <= j < n):   i = offset + (p * Q + q) * n + (j - 1)
        running sum s += term:    i = offset + (p * Q + q) * n + (n - 1)
    cumulative sum along a row m of length K (row-major (M, K)):
        partial sum s += x[m, k]: i = m * K + k
The running sums start at 0, so the first term is rounded too (0 + x[0] is x[0] rounded to the
active format, as `s = 0; s = s + x(1)` is in a Fortran loop under rpe): every output is a
value of the active format. An empty sum is 0.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lowprec.emulated import roundop
from lowprec.rounding.kernels import round_scalar
from lowprec.rounding.randombits import GOLDEN, fmix64, stream_key

__all__ = ["contract", "cumulative_sum"]

_STOCHASTIC = 1
_U0 = np.uint64(0)
_U1 = np.uint64(1)
BLOCK = 1024          # output elements advanced together: the accumulators stay in L1


# Plain functions, made into numba functions per rounding flavour by `roundop.specialise`:
# `rnd` is bound to the flavour's rounder (or the exact one), the drivers' `*_x` to the exact
# steps (a tracked flavour redoes a step whose values left the fast range: each step reads the
# accumulators it does not write) and `check` to whether the flavour is tracked.
rnd = roundop.ROUNDERS[roundop.NEAREST]           # placeholders: bound per flavour
check = False


def _sum_step(src, dst, buf, op, oq, nb, i0, stride, c):
    """dst[r] = src[r] + x (one operand: a plain sum)."""
    slow = False
    for r in range(nb):
        dst[r], s = rnd(src[r] + buf[op[0, r] + oq[0]], c, i0 + np.uint64(r) * stride)
        slow |= s
    return slow


def _dot_step(src, dst, buf, op, oq, nb, i0, stride, c):
    """dst[r] = src[r] + x·y (two operands: matmul, most einsums)."""
    slow = False
    for r in range(nb):
        i = i0 + np.uint64(r) * stride
        t, s1 = rnd(buf[op[0, r] + oq[0]] * buf[op[1, r] + oq[1]], c, i)
        dst[r], s2 = rnd(src[r] + t, c, i + _U1)
        slow |= s1 | s2
    return slow


def _product_step(src, dst, buf, op, oq, nb, i0, stride, c):
    """dst[r] = src[r] + ((x0·x1)·x2)·...: three or more operands."""
    n = op.shape[0]
    slow = False
    for r in range(nb):
        i = i0 + np.uint64(r) * stride
        t = buf[op[0, r] + oq[0]]
        for j in range(1, n):
            t, s = rnd(t * buf[op[j, r] + oq[j]], c, i + np.uint64(j - 1))
            slow |= s
        dst[r], s = rnd(src[r] + t, c, i + np.uint64(n - 1))
        slow |= s
    return slow


_sum_step_x, _dot_step_x, _product_step_x = _sum_step, _dot_step, _product_step


def _kernel(buf, off_p, off_q, out, params, counter, offset):
    c = roundop.recipe(params, counter)
    n, P = off_p.shape
    Q = off_q.shape[1]
    stride = np.uint64(Q) * np.uint64(n)              # index step from one output to the next
    acc = np.empty((2, min(P, BLOCK)))
    oq = np.empty(n, dtype=np.int64)
    for p0 in range(0, P, BLOCK):
        nb = min(BLOCK, P - p0)
        op = off_p[:, p0:p0 + nb]
        src, dst = acc[0], acc[1]
        src[:nb] = 0.0
        for q in range(Q):                            # term q of every output, left to right
            for j in range(n):
                oq[j] = off_q[j, q]
            i0 = np.uint64(offset) + np.uint64(p0) * stride + np.uint64(q) * np.uint64(n)
            if n == 1:
                if _sum_step(src, dst, buf, op, oq, nb, i0, stride, c) and check:
                    _sum_step_x(src, dst, buf, op, oq, nb, i0, stride, c)
            elif n == 2:
                if _dot_step(src, dst, buf, op, oq, nb, i0, stride, c) and check:
                    _dot_step_x(src, dst, buf, op, oq, nb, i0, stride, c)
            elif _product_step(src, dst, buf, op, oq, nb, i0, stride, c) and check:
                _product_step_x(src, dst, buf, op, oq, nb, i0, stride, c)
            src, dst = dst, src
        out[p0:p0 + nb] = src[:nb]


def _build(f: int):
    """The contraction kernel of rounding flavour f (`roundop.flavour`)."""
    check_ = roundop.tracked(f)
    steps = (_sum_step, _dot_step, _product_step)
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


def contract(buf: np.ndarray, off_p: np.ndarray, off_q: np.ndarray, params: np.ndarray,
             counter: int, offset: int = 0) -> np.ndarray:
    """Sequentially rounded contraction: out[p] = Σ_q Π_j buf[off_p[j, p] + off_q[j, q]].

    buf: float64, the operands' values side by side; off_p (n, P) and off_q (n, Q): int64 element
    offsets of operand j for output element p and summed term q. params: packed rounding
    parameters (`kernels.round_params`); counter: the operation's counter value; offset: the
    first random-bit index. Returns float64 (P,); an empty sum (Q = 0) is 0.
    """
    out = np.zeros(off_p.shape[1], dtype=np.float64)
    if off_p.shape[1] == 0:
        return out
    f = roundop.flavour(params)
    kernel = _KERNELS.get(f)
    if kernel is None:
        kernel = _KERNELS[f] = _build(f)
    kernel(buf, off_p, off_q, out, params, np.uint64(counter), np.uint64(offset))
    return out


def cumulative_sum(x: np.ndarray, kernel_args: tuple, mode_code: int, seed: int,
                   counter: int) -> np.ndarray:
    """Partial sums of each row of x (float64, (M, K)), each one rounded, left to right."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    key = np.uint64(stream_key(np.uint64(seed), np.uint64(counter)))   # numba boxes it as int
    _cumsum_kernel(x, out, *kernel_args, mode_code, key)
    return out
