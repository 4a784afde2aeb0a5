"""p-values for "this setting is farther from the controls than double precision is", and FDR.

The member statistic of a competitor run r is its mean distance to the M controls,
d(r) = (1/M) Σᵢ W1(cᵢ, r). The N null runs (double precision, other initial conditions) and
the N runs of a low-precision setting give 2N such numbers. Under the null hypothesis (the
setting's climate is double precision's) they are exchangeable given the controls, so the
one-sided p-value of the observed excess, mean d(setting) − mean d(null), is the fraction of
the C(2N, N) ways of relabelling N of the 2N runs as "setting" whose excess is at least the
observed one (the observed labelling included): an exact permutation test built from the
double-vs-double pairs. When setting and null runs share initial conditions their d values are
positively correlated and the test is conservative. The smallest attainable p-value is
1/C(2N, N) (1/252 for N = 5); beyond `max_relabellings` a seeded random subset is used, with
p = (1 + #{≥}) / (1 + B).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.stats

from lowprec.errors import ValidationInputError

__all__ = ["relabellings", "min_pvalue", "permutation_pvalues", "fdr_reject"]


def relabellings(n_setting: int, n_null: int, max_relabellings: int = 20_000,
                 seed: int = 0) -> tuple[np.ndarray, bool]:
    """0/1 matrix (n_setting + n_null, K): column k marks the runs labelled "setting".

    Column 0 is the observed labelling (the first n_setting runs). Returns (matrix, exact).
    """
    total = n_setting + n_null
    count = math.comb(total, n_setting)
    if count <= max_relabellings:
        cols = [c for c in itertools.combinations(range(total), n_setting)]
        exact = True
    else:
        rng = np.random.default_rng(seed)
        cols = [tuple(range(n_setting))] + [tuple(rng.permutation(total)[:n_setting])
                                            for _ in range(max_relabellings)]
        exact = False
    matrix = np.zeros((total, len(cols)))
    for k, members in enumerate(cols):
        matrix[list(members), k] = 1.0
    return matrix, exact


def min_pvalue(n_setting: int, n_null: int, max_relabellings: int = 20_000) -> float:
    """The smallest p-value the permutation test can give with these ensemble sizes."""
    count = math.comb(n_setting + n_null, n_setting)
    return 1.0 / count if count <= max_relabellings else 1.0 / (1 + max_relabellings)


def permutation_pvalues(setting: np.ndarray, null: np.ndarray, max_relabellings: int = 20_000,
                        seed: int = 0) -> np.ndarray:
    """One-sided p-values of mean(setting) − mean(null) along the last axis (module docstring).

    setting (..., N) and null (..., N') member statistics; other axes broadcast. NaN in a
    point's inputs gives NaN.
    """
    setting, null = np.asarray(setting, np.float64), np.asarray(null, np.float64)
    lead = np.broadcast_shapes(setting.shape[:-1], null.shape[:-1])
    values = np.concatenate([np.broadcast_to(setting, lead + setting.shape[-1:]),
                             np.broadcast_to(null, lead + null.shape[-1:])], axis=-1)
    matrix, _ = relabellings(setting.shape[-1], null.shape[-1], max_relabellings, seed)
    # The sum over the runs labelled "setting" orders relabellings as the excess does
    # (the total is fixed); column 0 is the observed labelling.
    sums = values @ matrix
    tolerance = 1e-12 * np.abs(values).sum(axis=-1, keepdims=True)   # same sum, other order
    at_least = np.sum(sums >= sums[..., :1] - tolerance, axis=-1)
    p = at_least / sums.shape[-1]           # exact: #/C(2N, N); sampled: (1 + #)/(1 + B)
    return np.where(np.isfinite(values).all(axis=-1), p, np.nan)


def fdr_reject(pvalues: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg at level alpha over all finite entries (scipy's false_discovery_control).

    Returns a boolean array of the same shape; NaN p-values are never rejected and do not count.
    """
    if not 0 < alpha < 1:
        raise ValidationInputError(f"alpha={alpha}: a false-discovery rate must lie in (0, 1)")
    p = np.asarray(pvalues, np.float64)
    reject = np.zeros(p.shape, dtype=bool)
    finite = np.isfinite(p)
    if finite.any():
        adjusted = scipy.stats.false_discovery_control(p[finite], method="bh")
        reject[finite] = adjusted <= alpha
    return reject
