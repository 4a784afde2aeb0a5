"""Tridiagonal systems along the level axis, solved by the Thomas algorithm in plain operations.

For each column (every index of the trailing axes) solve, k = 0..n−1 along axis 0,

    a_k x_{k−1} + b_k x_k + c_k x_{k+1} = d_k          (a_0 = c_{n−1} = 0: no such terms)

with ``lower`` = (a_1..a_{n−1}), ``diagonal`` = (b_0..b_{n−1}), ``upper`` = (c_0..c_{n−2}).
Forward elimination, then back substitution:

    m_0 = b_0,   m_k = b_k − a_k c'_{k−1},   c'_k = c_k / m_k,
    d'_0 = d_0 / m_0,   d'_k = (d_k − a_k d'_{k−1}) / m_k,
    x_{n−1} = d'_{n−1},   x_k = d'_k − c'_k x_{k+1}.

Every step is an elementwise numpy operation on one level's (lat, lon) slice, so under
emulation each is one rounded operation (numpy's dense solvers are refused by the emulator on
purpose). No pivoting: meant for diagonally dominant systems such as implicit diffusion, where
the Thomas algorithm is stable. Several right-hand sides share one elimination.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def tridiagonal_solve(lower: Any, diagonal: Any, upper: Any, *rhs: Any) -> tuple[Any, ...]:
    """x with A x = d for each right-hand side d, A tridiagonal along axis 0 (module doc).

    lower, upper: shape (n−1, ...); diagonal and each rhs: shape (n, ...). Returns one array of
    shape (n, ...) per right-hand side, of the arithmetic the inputs carry.
    """
    n = len(diagonal)
    if len(lower) != n - 1 or len(upper) != n - 1:
        raise ValueError(f"tridiagonal_solve: {n} diagonal entries need {n - 1} lower and upper "
                         f"ones; got {len(lower)} lower and {len(upper)} upper.")
    if not rhs:
        raise ValueError("tridiagonal_solve: give at least one right-hand side.")
    # forward elimination of the matrix, shared by every right-hand side
    pivots = [diagonal[0]]                                  # m_k
    upper_reduced = []                                      # c'_k = c_k / m_k, k < n−1
    for k in range(1, n):
        upper_reduced.append(upper[k - 1] / pivots[k - 1])
        pivots.append(diagonal[k] - lower[k - 1] * upper_reduced[k - 1])
    solutions = []
    for d in rhs:
        reduced = [d[0] / pivots[0]]                        # d'_k
        for k in range(1, n):
            reduced.append((d[k] - lower[k - 1] * reduced[k - 1]) / pivots[k])
        x = [reduced[n - 1]]                                # back substitution, bottom up
        for k in range(n - 2, -1, -1):
            x.append(reduced[k] - upper_reduced[k] * x[-1])
        solutions.append(np.stack(x[::-1]))
    return tuple(solutions)
