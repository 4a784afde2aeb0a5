"""The sequential kernels' inline rounders (lowprec/emulated/roundop.py) against lowprec.round.

Every rounder must give the bits of `lowprec.round` (the reference kernel) for every value it
does not flag as slow, flag only values outside [2**emin, max_finite] of a restricted or
flush-to-zero format, and `exact` must give the bits of `lowprec.round` for every value: fed
with ties, carries into the next binade, ±0, NaN, ±inf, subnormals and the edges of the range.
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import lowprec
from lowprec import Format
from lowprec.emulated import roundop
from lowprec.rounding import MODE_CODES, kernels

SEED = 99
COUNTER = 17


def values(fmt: Format) -> np.ndarray:
    """Edge cases of `fmt` and random values over its range and beyond."""
    spacing = 2.0 ** -fmt.sbits
    edge = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, 1.0 + spacing / 2, 1.0 + 3 * spacing / 2,
            2.0 - spacing / 2, 2.0 - spacing / 4, 5e-324, 2.0**-1022, 1.7e308]
    if fmt.restricted or not fmt.subnormals:
        tiny, big = fmt.min_normal, fmt.max_finite
        edge += [tiny, tiny * (1 - spacing / 2), tiny / 3, tiny * 2.0**-fmt.sbits / 2,
                 big, big * (1 + spacing / 4), big * (1 + spacing / 2), big * 2]
    rng = np.random.default_rng(fmt.sbits)
    spread = rng.standard_normal(400) * 2.0 ** rng.integers(-30, 30, 400)
    x = np.array(edge + [-v for v in edge] + list(spread))
    return x


def rounder_loop(f):
    rnd = roundop.ROUNDERS[f]

    @njit
    def apply(x, params, counter):
        c = roundop.recipe(params, counter)
        out = np.empty_like(x)
        slow = np.zeros(x.size, dtype=np.bool_)
        exact = np.empty_like(x)
        for i in range(x.size):
            out[i], slow[i] = rnd(x[i], c, np.uint64(i))
            exact[i], _ = roundop.exact(x[i], c, np.uint64(i))
        return out, slow, exact
    return apply


FORMATS = [Format(10), Format(3), Format(23), Format(52), Format(10, 5), Format(7, 8),
           Format(10, subnormals=False), Format(23, 8, subnormals=False)]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("mode", list(MODE_CODES))
def test_rounders_give_the_reference_bits(fmt, mode):
    params = kernels.round_params(fmt, MODE_CODES[mode], SEED)
    f = roundop.flavour(params)
    x = values(fmt)
    got, slow, exact = rounder_loop(f)(x, params, np.uint64(COUNTER))
    want = lowprec.round(x, fmt, mode, seed=SEED, counter=COUNTER)     # element i: index i
    same = lambda a, b: a.view(np.uint64) == b.view(np.uint64)         # noqa: E731
    assert same(exact, want).all()
    assert same(got[~slow], want[~slow]).all()
    if fmt.restricted or not fmt.subnormals:             # the range is checked
        # below the smallest normal; above the largest finite if the range is restricted (an
        # unrestricted flush-to-zero format overflows as float64 does, in the fast recipe)
        outside = (np.abs(x) < fmt.min_normal) | (fmt.restricted & (np.abs(x) > fmt.max_finite))
        inside = ~outside | (x == 0) | ~np.isfinite(x)
        assert roundop.tracked(f) and not slow[inside].any() and slow[~inside].all()
    else:
        assert not slow.any()
    if not roundop.tracked(f):
        assert f == {"nearest": roundop.NEAREST, "stochastic": roundop.STOCHASTIC}[mode]
