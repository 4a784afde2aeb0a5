"""Permutation p-values and Benjamini–Hochberg, against enumeration by hand and scipy."""
import itertools
import math

import numpy as np
import pytest
import scipy.stats

from lowprec.errors import ValidationInputError
from validation.significance import fdr_reject, min_pvalue, permutation_pvalues


def brute_force_pvalue(setting, null):
    values = list(setting) + list(null)
    observed = np.mean(setting) - np.mean(null)
    count = total = 0
    for chosen in itertools.combinations(range(len(values)), len(setting)):
        rest = [v for k, v in enumerate(values) if k not in chosen]
        excess = np.mean([values[k] for k in chosen]) - np.mean(rest)
        count += excess >= observed - 1e-12
        total += 1
    return count / total


def test_pvalue_equals_enumeration_by_hand():
    rng = np.random.default_rng(3)
    for n_s, n_n in [(5, 5), (3, 4), (4, 6)]:
        s, n = rng.normal(0.3, 1, n_s), rng.normal(0, 1, n_n)
        assert permutation_pvalues(s, n) == pytest.approx(brute_force_pvalue(s, n), rel=1e-12)


def test_extremes_and_ties():
    assert permutation_pvalues(np.full(5, 9.0), np.arange(5.0)) == pytest.approx(1 / math.comb(10, 5))
    assert permutation_pvalues(np.full(5, -9.0), np.arange(5.0)) == 1.0
    assert permutation_pvalues(np.ones(5), np.ones(5)) == 1.0          # all ties count as "at least"
    assert np.isnan(permutation_pvalues(np.r_[1.0, np.nan, 2, 3, 4], np.arange(5.0)))
    assert min_pvalue(5, 5) == 1 / 252 and min_pvalue(2, 2) == 1 / 6


def test_broadcasting_and_sampled_relabellings():
    rng = np.random.default_rng(4)
    s, n = rng.normal(1.0, 1, (7, 5)), rng.normal(0, 1, (7, 5))
    p = permutation_pvalues(s, n)
    assert p.shape == (7,)
    assert p[2] == pytest.approx(brute_force_pvalue(s[2], n[2]))
    sampled = permutation_pvalues(s, n, max_relabellings=200, seed=1)   # 252 > 200: Monte Carlo
    assert np.all(np.abs(sampled - p) < 0.15)
    assert np.all(sampled >= 1 / 201)


def test_p_values_are_valid_under_the_null():
    rng = np.random.default_rng(5)
    p = permutation_pvalues(rng.standard_normal((4000, 5)), rng.standard_normal((4000, 5)))
    se = math.sqrt(0.05 * 0.95 / p.size)
    assert abs(np.mean(p <= 0.05) - 12 / 252) < 4 * se     # exact: P(p ≤ 0.05) = 12/252


def test_fdr_matches_scipy_and_skips_nan():
    rng = np.random.default_rng(6)
    p = np.concatenate([rng.uniform(size=90), rng.uniform(0, 1e-3, 10)])
    expected = scipy.stats.false_discovery_control(p) <= 0.1
    np.testing.assert_array_equal(fdr_reject(p, 0.1), expected)
    with_nan = np.r_[p, np.nan].reshape(101, 1)
    got = fdr_reject(with_nan, 0.1)
    assert got.shape == (101, 1) and not got[-1, 0]
    np.testing.assert_array_equal(got[:-1, 0], expected)
    with pytest.raises(ValidationInputError, match="alpha=1.5"):
        fdr_reject(p, 1.5)
