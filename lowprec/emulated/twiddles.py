"""cos(2πk/n) and sin(2πk/n) correctly rounded to float64: the FFT's constants, on every machine.

The sequential FFT (`fourier.py`) rounds its twiddle factors to the active format as a
precomputed table would hold them: from these float64 values, rounded to nearest. Computing them
with numpy's or the C library's cos and sin would make the tables (and so the bits of every
sequential FFT) depend on the machine and its SIMD paths, and would miss exact values
(np.cos(np.pi / 2) is 6e-17, not 0). Here they are computed in 200-bit fixed-point integer
arithmetic: π by Machin's formula, w = e^(iφ) with φ = 2π/(4n) by its Taylor series, and its
powers w^a for 0 <= a <= n/2 (the first octant) by repeated multiplication (truncation error
below n·2**-195); the other octants by the symmetries of the circle, exactly; each value is then
rounded to float64 once (Python's int true division rounds correctly). So the values are exact
at multiples of π/4's sines and cosines that are exact (0, ±1/2, ±1), symmetric, and correctly
rounded unless the true value lies within ~2**-190 of a float64 rounding boundary.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["unit_roots"]

_BITS = 200
_ONE = 1 << _BITS


def _arctan_inverse(x: int) -> int:
    """arctan(1/x) in fixed point (x > 1 an integer)."""
    total = term = _ONE // x
    x2 = x * x
    k = 1
    while term:
        term //= x2
        k += 2
        total += term // k if k % 4 == 1 else -(term // k)
    return total


@lru_cache(maxsize=1)
def _pi() -> int:
    return 4 * (4 * _arctan_inverse(5) - _arctan_inverse(239))       # Machin, 1706


def _cos_sin(theta: int) -> tuple[int, int]:
    """cos and sin of a small non-negative fixed-point angle (theta <= 1) by Taylor series."""
    cos = sin = 0
    term, k = _ONE, 0                           # θ^k / k!
    while term:
        if k % 4 == 0:
            cos += term
        elif k % 4 == 1:
            sin += term
        elif k % 4 == 2:
            cos -= term
        else:
            sin -= term
        k += 1
        term = (term * theta >> _BITS) // k
    return cos, sin


def _first_octant(n: int) -> tuple[list[int], list[int]]:
    """cos and sin of 2πa/(4n) for a = 0 .. n//2, fixed point."""
    c1, s1 = _cos_sin(_pi() // (2 * n))              # φ = 2π/(4n)
    cos, sin = [_ONE], [0]
    c, s = _ONE, 0
    for _ in range(n // 2):
        c, s = (c * c1 - s * s1) >> _BITS, (c * s1 + s * c1) >> _BITS
        cos.append(c)
        sin.append(s)
    return cos, sin


@lru_cache(maxsize=32)
def unit_roots(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos(2πk/n), sin(2πk/n)) for k = 0 .. n-1, float64, correctly rounded (read-only)."""
    if n < 1:
        raise ValueError(f"unit_roots: n = {n}; the number of points must be >= 1")
    cos_a, sin_a = _first_octant(n)
    cos, sin = np.empty(n), np.empty(n)
    for k in range(n):
        a = 4 * k                               # the angle in units of 2π/(4n)
        sin_sign = cos_sign = 1
        if a > 2 * n:                           # (π, 2π): reflect through the x axis
            a, sin_sign = 4 * n - a, -1
        if a > n:                               # (π/2, π]: reflect through the y axis
            a, cos_sign = 2 * n - a, -1
        if 2 * a > n:                           # (π/4, π/2]: swap cos and sin
            c, s = sin_a[n - a], cos_a[n - a]
        else:
            c, s = cos_a[a], sin_a[a]
        cos[k] = cos_sign * (c / _ONE)
        sin[k] = sin_sign * (s / _ONE)
    cos.flags.writeable = sin.flags.writeable = False
    return cos, sin
