"""numba kernels for the `sequential` policy: every multiply and add rounded, in a fixed order.

This is what rpe did inside SPEEDY's loops: a sum is a chain of rounded additions, left to right,
and a dot product is a chain of rounded products each added (rounded) to a rounded running sum.
The kernels call `lowprec.rounding.kernels.round_scalar` once per operation, so they stay
affordable for the spectral transforms of a GCM (no Python loop per element).

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

from lowprec.rounding.kernels import round_scalar
from lowprec.rounding.randombits import GOLDEN, fmix64, stream_key

__all__ = ["contract", "cumulative_sum"]

_STOCHASTIC = 1
_U0 = np.uint64(0)


@njit(cache=True)
def _contract_kernel(buf, off_p, off_q, out, sbits, emin, emax, restricted, subnormals, mode,
                     key, offset):
    n = off_p.shape[0]
    P = off_p.shape[1]
    Q = off_q.shape[1]
    rbits = _U0
    for p in range(P):
        acc = 0.0
        for q in range(Q):
            term = buf[off_p[0, p] + off_q[0, q]]
            base = (np.uint64(p) * np.uint64(Q) + np.uint64(q)) * np.uint64(n) + offset
            for j in range(1, n):
                if mode == _STOCHASTIC:
                    rbits = fmix64(key ^ ((base + np.uint64(j - 1)) * GOLDEN))
                term = round_scalar(term * buf[off_p[j, p] + off_q[j, q]], sbits, emin, emax,
                                    restricted, subnormals, mode, rbits)
            # the running sum starts at 0: the first add, 0 + term, rounds the term itself (a
            # no-op after a rounded product; for a plain sum it rounds x[0] to the format)
            if mode == _STOCHASTIC:
                rbits = fmix64(key ^ ((base + np.uint64(n - 1)) * GOLDEN))
            acc = round_scalar(acc + term, sbits, emin, emax, restricted, subnormals, mode,
                               rbits)
        out[p] = acc


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


def contract(buf: np.ndarray, off_p: np.ndarray, off_q: np.ndarray, kernel_args: tuple,
             mode_code: int, seed: int, counter: int, offset: int = 0) -> np.ndarray:
    """Sequentially rounded contraction: out[p] = Σ_q Π_j buf[off_p[j, p] + off_q[j, q]].

    buf: float64, the operands' values side by side; off_p (n, P) and off_q (n, Q): int64 element
    offsets of operand j for output element p and summed term q. Returns float64 (P,); an empty
    sum (Q = 0) is 0.
    """
    out = np.zeros(off_p.shape[1], dtype=np.float64)
    key = np.uint64(stream_key(np.uint64(seed), np.uint64(counter)))   # numba boxes it as int
    _contract_kernel(buf, off_p, off_q, out, *kernel_args, mode_code, key, np.uint64(offset))
    return out


def cumulative_sum(x: np.ndarray, kernel_args: tuple, mode_code: int, seed: int,
                   counter: int) -> np.ndarray:
    """Partial sums of each row of x (float64, (M, K)), each one rounded, left to right."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    key = np.uint64(stream_key(np.uint64(seed), np.uint64(counter)))   # numba boxes it as int
    _cumsum_kernel(x, out, *kernel_args, mode_code, key)
    return out
