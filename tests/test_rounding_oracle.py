"""lowprec.round against exact rational arithmetic (fractions.Fraction), every mode and range."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lowprec.rounding as rounding
from lowprec.formats import Format

MODES = rounding.MODES


def neighbours(x: float, fmt: Format) -> tuple[Fraction, Fraction, Fraction]:
    """(|x|, lo, hi): |x| between adjacent values lo <= |x| < hi of `fmt`'s grid, where the
    grid has spacing 2**(max(E, emin) - sbits) for 2**E <= |x| < 2**(E+1), unbounded above."""
    a = Fraction(abs(x))
    _, e = math.frexp(abs(x))                           # 2**(e-1) <= |x| < 2**e
    q = Fraction(2) ** (max(e - 1, fmt.emin) - fmt.sbits)
    lo = (a // q) * q
    return a, lo, lo + q


def finish(mag: Fraction, x: float, fmt: Format, mode: str) -> float:
    """Apply overflow and flush-to-zero to a rounded magnitude; give it x's sign."""
    neg = math.copysign(1.0, x) < 0
    if mag > Fraction(fmt.max_finite):
        away = mode in ("nearest", "stochastic") or (mode == "upward" and not neg) or (
            mode == "downward" and neg)
        value = math.inf if away else fmt.max_finite
    elif not fmt.subnormals and mag < Fraction(fmt.min_normal):
        value = 0.0
    else:
        value = float(mag)
    return -value if neg else value


def oracle(x: float, fmt: Format, mode: str) -> float:
    """x rounded to fmt in a deterministic mode, exactly."""
    if x == 0 or not math.isfinite(x):
        return x
    a, lo, hi = neighbours(x, fmt)
    neg = x < 0
    if mode == "nearest":
        q = hi - lo
        mag = round(a / q) * q                          # Fraction rounds halves to even
    elif mode == "toward_zero" or a == lo:
        mag = lo
    elif mode == "upward":
        mag = lo if neg else hi
    else:  # downward
        mag = hi if neg else lo
    return finish(mag, x, fmt, mode)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(np.asarray(a, np.float64).view(np.uint64),
                          np.asarray(b, np.float64).view(np.uint64))


formats = st.builds(Format, sbits=st.integers(1, 24),
                    ebits=st.one_of(st.none(), st.integers(2, 11)), subnormals=st.booleans())


@st.composite
def values_near(draw, fmt_strategy=formats):
    """A format and float64 values around its range: ties, near-ties, carries, subnormals."""
    fmt = draw(fmt_strategy)
    lo_exp = max(fmt.emin - fmt.sbits - 3, -1074)
    hi_exp = min(fmt.emax + 2, 1023)
    extra = draw(st.integers(1, 4))                     # bits beyond the format: few = many ties
    n = 40
    sig = draw(st.lists(st.integers(0, 2 ** (fmt.sbits + 1 + extra) - 1), min_size=n, max_size=n))
    exps = draw(st.lists(st.integers(lo_exp, hi_exp), min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    nudges = draw(st.lists(st.sampled_from([-1, 0, 0, 0, 1]), min_size=n, max_size=n))
    xs = []
    for m, e, s, k in zip(sig, exps, signs, nudges):
        x = s * math.ldexp(m, e - fmt.sbits - extra)
        if k and x != 0 and math.isfinite(x):
            x = math.nextafter(x, k * math.inf)         # just off a tie
        xs.append(x)
    return fmt, np.array(xs, dtype=np.float64)


@settings(max_examples=120, deadline=None)
@given(case=values_near(), mode=st.sampled_from([m for m in MODES if m != "stochastic"]),
       backend=st.sampled_from(["numba", "numpy"]))
def test_deterministic_modes_match_fraction_oracle(case, mode, backend):
    fmt, x = case
    got = rounding.round(x, fmt, mode, backend=backend)
    want = np.array([oracle(v, fmt, mode) for v in x])
    bad = ~np.equal(got.view(np.uint64), want.view(np.uint64))
    assert not bad.any(), (fmt, mode, x[bad], got[bad], want[bad])


@settings(max_examples=60, deadline=None)
@given(x=st.lists(st.floats(width=64, allow_nan=False), min_size=1, max_size=50),
       sbits=st.integers(1, 24), mode=st.sampled_from([m for m in MODES if m != "stochastic"]))
def test_any_double_in_double_range(x, sbits, mode):
    fmt = Format(sbits)
    got = rounding.round(np.array(x), fmt, mode)
    want = np.array([oracle(v, fmt, mode) for v in x])
    assert same_bits(got, want)


@settings(max_examples=60, deadline=None)
@given(case=values_near(), seed=st.integers(0, 2**64 - 1), backend=st.sampled_from(["numba", "numpy"]))
def test_stochastic_gives_a_neighbour(case, seed, backend):
    fmt, x = case
    got = rounding.round(x, fmt, "stochastic", seed=seed, backend=backend)
    for v, g in zip(x, got):
        if v == 0:
            assert same_bits(g, v)
            continue
        a, lo, hi = neighbours(v, fmt)
        allowed = {finish(lo, v, fmt, "stochastic")}
        if a != lo:
            allowed.add(finish(hi, v, fmt, "stochastic"))
        assert any(same_bits(g, w) for w in allowed), (fmt, v, g, allowed)


def test_examples_by_hand():
    f10 = Format(10)
    assert rounding.round(1 + 2.0**-11, f10) == 1.0                       # tie to even (down)
    assert rounding.round(1 + 3 * 2.0**-11, f10) == 1 + 2.0**-9           # tie to even (up)
    assert rounding.round(2 - 2.0**-12, f10) == 2.0                       # carry to next binade
    assert rounding.round(-(2 - 2.0**-12), f10, "toward_zero") == -(2 - 2.0**-10)
    assert rounding.round(1 + 2.0**-40, f10, "upward") == 1 + 2.0**-10
    assert rounding.round(-1 - 2.0**-40, f10, "upward") == -1.0
    assert rounding.round(-1 - 2.0**-40, f10, "downward") == -1 - 2.0**-10
    half = Format(10, 5)
    assert rounding.round(65519.99, half) == 65504.0
    assert rounding.round(65520.0, half) == math.inf
    assert rounding.round(-1e6, half, "toward_zero") == -65504.0
    assert rounding.round(1e6, half, "downward") == 65504.0
    assert rounding.round(-1e6, half, "downward") == -math.inf
    assert rounding.round(2.0**-25, half) == 0.0                           # tie with 0: even
    assert rounding.round(3 * 2.0**-26, half) == 2.0**-24
    assert math.copysign(1, rounding.round(-2.0**-30, half)) == -1         # -0 keeps its sign
    ftz = Format(10, 5, subnormals=False)
    assert rounding.round(2.0**-15, ftz) == 0.0                            # subnormal: flushed
    assert rounding.round(2.0**-14 - 2.0**-26, ftz) == 2.0**-14            # rounds up to normal
    assert rounding.round(-2.0**-15, ftz, "downward") == 0.0               # FTZ wins over direction
    assert math.copysign(1, rounding.round(-2.0**-15, ftz, "downward")) == -1
    assert rounding.round(5e-324, Format(10), "upward") == 2.0**-1032     # float64 subnormals


def test_nan_inf_and_signed_zero_preserved_in_every_mode():
    payload_nan = np.array([0x7FF8000000000123, 0xFFF0000000000001], dtype=np.uint64).view(np.float64)
    x = np.concatenate([payload_nan, [np.inf, -np.inf, 0.0, -0.0]])
    for fmt in (Format(3), Format(3, 4), Format(3, 4, subnormals=False), Format(52, 2)):
        for mode in MODES:
            for backend in ("numba", "numpy"):
                got = rounding.round(x, fmt, mode, seed=1, backend=backend)
                assert same_bits(got, x), (fmt, mode, backend)
