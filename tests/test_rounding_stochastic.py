"""Stochastic rounding: support, probabilities, bias, and reproducibility of the random bits."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lowprec.rounding as rounding
from lowprec.formats import Format
from lowprec.rounding import randombits
from lowprec.rounding.kernels import round_scalar

N = 100_000
FIVE_SE = lambda p, n: 5 * math.sqrt(p * (1 - p) / n)      # noqa: E731  (< 1e-6 of seeds fail)


@pytest.mark.parametrize("fmt, x, lo, hi", [
    (Format(10), 1 + 2.0**-12, 1.0, 1 + 2.0**-10),                         # 1/4 of the way up
    (Format(10), -(1 + 3 * 2.0**-12), -1.0, -(1 + 2.0**-10)),              # 3/4, negative
    (Format(3), 1.25 * 2.0**-1025, 2.0**-1025, 2.0**-1024),                # float64 subnormals
    (Format(10, 5), 2.0**-24 * 0.3, 0.0, 2.0**-24),                        # fp16 subnormal spacing
    (Format(10, 5), 2.0**-24 * 2.0**-60 * 3, 0.0, 2.0**-24),               # >= 64 dropped bits
    (Format(10, 5), 65504.0 + 8.0, 65504.0, np.inf),                       # past max: inf
    (Format(2, 3), 15.0, 14.0, np.inf),                                    # 2**(emax+1) = 16
])
def test_up_probability_is_proportional(fmt, x, lo, hi):
    top = 2.0 ** (fmt.emax + 1) if np.isinf(hi) else abs(hi)
    p = (abs(x) - abs(lo)) / (top - abs(lo))
    for backend in ("numba", "numpy"):
        r = rounding.round(np.full(N, x), fmt, "stochastic", seed=2026, backend=backend)
        assert set(np.unique(r)) <= {lo, hi}
        frac_up = np.mean(r == hi)
        assert abs(frac_up - p) < max(FIVE_SE(p, N), 1.0 / N), (x, frac_up, p)


def test_mean_is_unbiased_over_many_values():
    rng = np.random.default_rng(1)
    x = 1 + rng.random(50) * 0.99                      # 50 values in [1, 2): spacing 2**-4
    fmt = Format(4)
    reps = 4000
    r = np.stack([rounding.round(x, fmt, "stochastic", seed=7, counter=c) for c in range(reps)])
    err = r.mean(axis=0) - x
    se = 2.0**-4 * 0.5 / math.sqrt(reps)               # sd of one rounding is at most q/2
    assert np.all(np.abs(err) < 5 * se)
    assert abs(err.mean()) < 5 * se / math.sqrt(x.size)


def test_identical_seeds_identical_bits_and_others_differ():
    x = np.random.default_rng(3).standard_normal(10_000)
    a = rounding.round(x, Format(8), "stochastic", seed=11, counter=4)
    assert np.array_equal(a.view(np.uint64),
                          rounding.round(x, Format(8), "stochastic", seed=11, counter=4).view(np.uint64))
    for other in ({"seed": 12, "counter": 4}, {"seed": 11, "counter": 5}):
        b = rounding.round(x, Format(8), "stochastic", **other)
        assert 0.2 < np.mean(a != b) < 0.5             # independent draws differ often


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), cut=st.data(), seed=st.integers(0, 2**64 - 1),
       counter=st.integers(0, 2**64 - 1), backend=st.sampled_from(["numba", "numpy"]))
def test_chunking_gives_the_same_bits(n, cut, seed, counter, backend):
    x = np.random.default_rng(n).standard_normal(n) * 1e-5
    k = cut.draw(st.integers(0, n))
    whole = rounding.round(x, Format(5, 5), "stochastic", seed=seed, counter=counter, backend=backend)
    head = rounding.round(x[:k], Format(5, 5), "stochastic", seed=seed, counter=counter, backend=backend)
    tail = rounding.round(x[k:], Format(5, 5), "stochastic", seed=seed, counter=counter, offset=k,
                          backend=backend)
    assert np.array_equal(whole.view(np.uint64), np.concatenate([head, tail]).view(np.uint64))


def test_multidimensional_arrays_use_c_order_indices():
    x = np.random.default_rng(4).standard_normal((30, 40))
    flat = rounding.round(x.ravel(), Format(6), "stochastic", seed=5)
    assert np.array_equal(rounding.round(x, Format(6), "stochastic", seed=5).ravel(), flat)
    f = np.asfortranarray(x)
    assert np.array_equal(rounding.round(f, Format(6), "stochastic", seed=5).ravel(), flat)
    assert np.array_equal(rounding.round(x.T, Format(6), "stochastic", seed=5),
                          rounding.round(np.ascontiguousarray(x.T), Format(6), "stochastic", seed=5))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), counter=st.integers(0, 2**64 - 1),
       offset=st.integers(0, 2**64 - 100))
def test_numba_and_numpy_random_bits_agree(seed, counter, offset):
    numpy_bits = randombits.random_bits(seed, counter, 50, offset)
    numba_bits = [randombits.mix(np.uint64(seed), np.uint64(counter), np.uint64(offset + i))
                  for i in range(50)]
    assert [int(b) for b in numpy_bits] == [int(b) for b in numba_bits]


def test_random_bits_look_uniform():
    b = randombits.random_bits(0, 0, 200_000)
    top = (b >> np.uint64(54)).astype(np.int64)          # 10 top bits: 1024 bins
    counts = np.bincount(top, minlength=1024)
    expected = b.size / 1024
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 1023 + 5 * math.sqrt(2 * 1023)          # chi-square, 1023 dof, 5 sd
    for bit in (0, 31, 63):                               # single bits are fair
        assert abs(np.mean((b >> np.uint64(bit)) & np.uint64(1)) - 0.5) < FIVE_SE(0.5, b.size)


def test_round_scalar_callable_from_njit_code_with_mix():
    from numba import njit

    @njit
    def sequential_sum(x, sbits, emin, emax, restricted, subnormals, seed, counter):
        total = 0.0
        for i in range(x.size):
            rb = randombits.mix(seed, counter + i, 0)
            total = round_scalar(total + x[i], sbits, emin, emax, restricted, subnormals, 1, rb)
        return total

    x = np.full(1000, 1e-3)
    fmt = Format(10)
    s = sequential_sum(x, *fmt.kernel_args(), np.uint64(3), np.uint64(0))
    expected = 0.0
    for i in range(x.size):
        expected = rounding.round(expected + x[i], fmt, "stochastic", seed=3, counter=i)
    assert s == expected
    assert abs(s - 1.0) < 0.05                     # stochastic rounding does not stagnate


@pytest.mark.parametrize("dropped", [63, 64, 65])
def test_up_probability_at_the_64_dropped_bits_boundary(dropped):
    """Below a restricted format's subnormal spacing 2**t, 64 random bits cover up to 63 dropped
    bits directly; from 64 on the kernel compares them with ceil(m / 2**(dropped - 64)). Here
    x = 1.9·2**(t - dropped + 52) has a 53-bit significand m with exactly `dropped` bits below
    2**t; it rounds up to 2**t with probability x / 2**t = 1.9·2**(52 - dropped) (4.6e-4 at 64).
    2**18 draws: about 60-240 ups, bound 5 standard errors (a path that never rounds up misses
    by 10 or more)."""
    fmt = Format(10, 5)                                   # IEEE half: spacing 2**-24 down there
    t = fmt.emin - fmt.sbits
    x = 1.9 * 2.0 ** (t - dropped + 52)
    p = x / 2.0 ** t
    n = 2 ** 18
    for backend in ("numba", "numpy"):
        r = rounding.round(np.full(n, x), fmt, "stochastic", seed=64, backend=backend)
        assert set(np.unique(r)) <= {0.0, 2.0 ** t}
        assert abs(np.mean(r > 0) - p) < FIVE_SE(p, n), (backend, np.mean(r > 0), p)
