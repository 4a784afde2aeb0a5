"""The numba kernel against the numpy reference (bit for bit), and both against pychop."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lowprec.rounding as rounding
from lowprec.formats import Format

SPECIALS = np.array([0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000001],
                    dtype=np.uint64).view(np.float64).tolist() + [
    math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, 2.2250738585072009e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 1 + 2.0**-11, 1 + 3 * 2.0**-11,
    2 - 2.0**-53, 65504.0, 65520.0, -65520.0, 2.0**-14, 2.0**-25, 2.0**-24 * 1.5]

any_format = st.builds(Format, sbits=st.integers(1, 52),
                       ebits=st.one_of(st.none(), st.integers(2, 11)), subnormals=st.booleans())
float64_values = st.one_of(st.floats(width=64), st.sampled_from(SPECIALS),
                           st.integers(0, 2**64 - 1).map(
                               lambda b: float(np.array(b, dtype=np.uint64).view(np.float64))))


def u64(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


@settings(max_examples=150, deadline=None)
@given(x=arrays(np.float64, st.integers(0, 80), elements=float64_values), fmt=any_format,
       mode=st.sampled_from(rounding.MODES), seed=st.integers(0, 2**64 - 1),
       counter=st.integers(0, 2**64 - 1))
def test_numba_kernel_matches_numpy_reference_bits(x, fmt, mode, seed, counter):
    fast = rounding.round(x, fmt, mode, seed=seed, counter=counter, backend="numba")
    ref = rounding.round(x, fmt, mode, seed=seed, counter=counter, backend="numpy")
    assert np.array_equal(u64(fast), u64(ref))


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.integers(0, 80), elements=st.floats(width=32)), fmt=any_format,
       mode=st.sampled_from(rounding.MODES), seed=st.integers(0, 2**64 - 1))
def test_numba_matches_numpy_on_float32(x, fmt, mode, seed):
    fast = rounding.round(x, fmt, mode, seed=seed, backend="numba")
    ref = rounding.round(x, fmt, mode, seed=seed, backend="numpy")
    assert fast.dtype == ref.dtype == np.float32
    assert np.array_equal(fast.view(np.uint32), ref.view(np.uint32))


def test_kernel_matches_reference_on_a_large_mixed_array():
    """Long enough for the kernel's blocks and fix-up path (subnormals, overflow) to matter."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal(20_000) * 10.0 ** rng.integers(-12, 8, 20_000)
    x[::97] = np.array(SPECIALS)[rng.integers(0, len(SPECIALS), x[::97].size)]
    for fmt in (Format(10), Format(10, 5), Format(3, 3, subnormals=False), Format(52, 4)):
        for mode in rounding.MODES:
            fast = rounding.round(x, fmt, mode, seed=3, counter=9, backend="numba")
            ref = rounding.round(x, fmt, mode, seed=3, counter=9, backend="numpy")
            assert np.array_equal(u64(fast), u64(ref)), (fmt, mode)


def normal_range_sample(fmt, n, rng):
    """Values well inside fmt's normal range (where pychop 0.6.2 is right), with ties."""
    e = rng.integers(max(fmt.emin, -60), min(fmt.emax, 60), n)
    extra = rng.integers(1, 4, n)
    m = rng.integers(2**fmt.sbits, 2 ** (fmt.sbits + 1), n) * 2**extra + rng.integers(0, 2**extra)
    x = np.ldexp(m.astype(np.float64), e - fmt.sbits - extra)
    return np.where(rng.random(n) < 0.5, -x, x)


@pytest.mark.parametrize("fmt", [Format(10, 5), Format(10), Format(7, 8), Format(23, 8),
                                 Format(3, 4)])
@pytest.mark.parametrize("mode", ["nearest", "toward_zero", "upward", "downward"])
def test_pychop_agrees_on_normal_range(fmt, mode):
    x = normal_range_sample(fmt, 700, np.random.default_rng(fmt.sbits))  # < 800: no dask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # pychop's own overflow warnings
        theirs = rounding.round(x, fmt, mode, backend="pychop")
    ours = rounding.round(x, fmt, mode)
    assert np.array_equal(u64(ours), u64(theirs))


def test_pychop_stochastic_agrees_in_distribution():
    x = np.full(700, 1 + 2.0**-12)                        # up with probability 1/4
    n, p = 0, 0.25
    for seed in range(20):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            theirs = rounding.round(x, Format(10), "stochastic", seed=seed, backend="pychop")
        assert set(np.unique(theirs)) <= {1.0, 1 + 2.0**-10}
        n += np.sum(theirs > 1)
    ours = rounding.round(np.full(14_000, 1 + 2.0**-12), Format(10), "stochastic", seed=1)
    se = math.sqrt(p * (1 - p) / 14_000)
    assert abs(n / 14_000 - p) < 5 * se and abs(np.mean(ours > 1) - p) < 5 * se


def test_kernel_round_array_defaults_give_the_reference_bits():
    """kernels.round_array with its defaults (seed 0, counter 0, offset 0): round-to-nearest needs
    no seed, and stochastic rounding with the defaults is seed 0's."""
    from lowprec.rounding import MODE_CODES, kernels
    x = np.random.default_rng(24).standard_normal(1000)
    for mode in ("nearest", "stochastic"):
        got = kernels.round_array(x, Format(10), MODE_CODES[mode])
        expected = rounding.round(x, Format(10), mode, seed=0, backend="numpy")
        assert np.array_equal(got.view(np.uint64), expected.view(np.uint64)), mode


@pytest.mark.parametrize("index", [0, 1, 4095, 4096, 4097, 9999])
def test_one_element_on_the_exact_path_in_a_block(index):
    """A block of the kernel (4096 elements) in which exactly one element needs the exact path
    (here a value below IEEE half's normal range): the kernel finds it by the sum of the indices
    it flagged. Every mode, against the reference, at the block's edges and inside."""
    x = np.random.default_rng(25).uniform(1.0, 2.0, 10_000)
    x[index] = 3.3e-6                                      # subnormal in binary16 (< 2**-14)
    for mode in rounding.MODES:
        fast = rounding.round(x, Format(10, 5), mode, seed=5, counter=2, backend="numba")
        ref = rounding.round(x, Format(10, 5), mode, seed=5, counter=2, backend="numpy")
        assert np.array_equal(u64(fast), u64(ref)), mode
        assert fast[index] != x[index]                     # it was rounded (3.3e-6 is not a half)
