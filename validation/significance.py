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

Leave-one-out empirical p-values (`leave_one_out_pvalues`, evaluate(pvalue_method=
"leave_one_out")), the test the spec names. At each point the null sample is the set of
distances between double-precision runs: every control × null-member pair (M·N of them) and
every unordered control × control pair c ≠ c' (M(M−1)/2), i.e. each double-precision run
compared with a control it is not ("leave one out": a run is never compared with itself), so
n_null = M·N + M(M−1)/2 (35 for M = N = 5). The statistic of a setting is its mean distance over
its control × member pairs (the number w1_<var> reports), and

    p = (1 + #{null distances ≥ statistic}) / (1 + n_null),

ties (to 1e-12 relative) counting as "at least"; the smallest p is 1/(1 + n_null) (1/36 for
M = N = 5). The global p-value is built the same way from global (area-weighted mean)
distances. The test is valid and conservative: under the null each of the setting's pairs is
distributed as a null pair, and their mean spreads less than a single pair does (it is smaller
in convex order), so it exceeds a high null quantile less often than a single pair would;
rejections under the null come out below alpha (the tests measure this). It is not exact (the
statistic is not exchangeable with the null distances, which also share controls with one
another), and it is less powerful than the permutation test: its smallest p-value is 1/36
against 1/252 for M = N = 5, which matters for Benjamini–Hochberg over many points.
The permutation test therefore stays the default.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.stats

from lowprec.errors import ValidationInputError

__all__ = ["relabellings", "min_pvalue", "permutation_pvalues", "null_pair_count",
           "leave_one_out_null", "leave_one_out_min_pvalue", "leave_one_out_pvalues",
           "PVALUE_METHODS", "fdr_reject", "pvalue_floor", "floor_warning", "design_floor", "design_notes"]

PVALUE_METHODS = ("permutation", "leave_one_out")


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


def null_pair_count(n_controls: int, n_null: int) -> int:
    """Distances in the leave-one-out null sample: M·N control × null + M(M−1)/2 control × control."""
    return n_controls * n_null + n_controls * (n_controls - 1) // 2


def leave_one_out_min_pvalue(n_controls: int, n_null: int) -> float:
    """The smallest leave-one-out p-value, 1/(1 + n_null), with M controls and N null members."""
    return 1.0 / (1 + null_pair_count(n_controls, n_null))


def leave_one_out_null(control_null: np.ndarray, control_control: np.ndarray) -> np.ndarray:
    """The leave-one-out null sample (module docstring) from the double-precision pair distances.

    control_null (..., N, M): distance of null member j to control i at [..., j, i];
    control_control (..., M, M): distance of control i to control k (symmetric; the diagonal,
    a run compared with itself, is left out). Returns (..., M·N + M(M−1)/2): the control × null
    distances, then the pairs i < k, in the units of the distances.
    """
    control_null = np.asarray(control_null, np.float64)
    control_control = np.asarray(control_control, np.float64)
    m = control_control.shape[-1]
    if control_control.shape[-2] != m or control_null.shape[-1] != m:
        raise ValueError(f"control_null {control_null.shape} and control_control "
                         f"{control_control.shape}: expected (..., N, M) and (..., M, M)")
    i, k = np.triu_indices(m, k=1)
    lead = np.broadcast_shapes(control_null.shape[:-2], control_control.shape[:-2])
    return np.concatenate([np.broadcast_to(control_null, lead + control_null.shape[-2:])
                           .reshape(lead + (-1,)),
                           np.broadcast_to(control_control[..., i, k], lead + (i.size,))], axis=-1)


def leave_one_out_pvalues(statistic: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(1 + #{null ≥ statistic}) / (1 + n_null) per point (module docstring).

    statistic (...): the setting's mean distance over its control × member pairs; null
    (..., n_null): the double-vs-double distances along the last axis (leave_one_out_null);
    other axes broadcast. NaN in a point's statistic or null sample gives NaN.
    """
    statistic = np.asarray(statistic, np.float64)
    null = np.asarray(null, np.float64)
    if null.ndim == 0 or null.shape[-1] == 0:
        raise ValidationInputError(f"a null sample of shape {null.shape}: leave-one-out p-values "
                                   "need at least one double-vs-double distance per point")
    observed = statistic[..., None]
    at_least = np.sum(null >= observed - 1e-12 * np.abs(observed), axis=-1)
    p = (1.0 + at_least) / (1.0 + null.shape[-1])
    finite = np.isfinite(statistic) & np.isfinite(null).all(axis=-1)
    return np.where(finite, p, np.nan)


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


def pvalue_floor(method: str, n_controls: int, n_setting: int, n_null: int,
                 max_relabellings: int = 20_000) -> tuple[float, str]:
    """The smallest p-value a design can give, and how it follows from the ensemble sizes.

    No setting can be shown significant at a level alpha at or below this floor, however far it
    is from the null: a design is only able to say "significant" when its floor is below alpha.
    """
    if method == "permutation":
        count = math.comb(n_setting + n_null, n_setting)
        floor = min_pvalue(n_setting, n_null, max_relabellings)
        if count <= max_relabellings:
            how = (f"1/C({n_setting + n_null}, {n_setting}) = 1/{count}: exact permutation test of "
                   f"{n_setting} setting runs against {n_null} null runs")
        else:
            how = (f"1/(1 + {max_relabellings}): permutation test on {max_relabellings} of the "
                   f"C({n_setting + n_null}, {n_setting}) = {count} relabellings")
        return floor, how
    if method == "leave_one_out":
        n_pairs = null_pair_count(n_controls, n_null)
        return (leave_one_out_min_pvalue(n_controls, n_null),
                f"1/(1 + {n_pairs}): leave-one-out against the {n_pairs} double-vs-double "
                f"distances of {n_controls} controls and {n_null} null members")
    raise ValidationInputError(f"pvalue_method={method!r}: allowed are "
                               f"{', '.join(map(repr, PVALUE_METHODS))}")


def floor_warning(floor: float, alpha: float, method: str = "permutation") -> str | None:
    """A one-line warning when the p-value floor is not below alpha, else None."""
    if floor < alpha:
        return None
    more = ("use at least 4 competitor members (floor 1/C(8, 4) = 1/70; 5 give 1/252)"
            if method == "permutation" else "use more members, or the permutation test")
    return (f"the smallest attainable p-value of this design, {floor:.3g}, is not below "
            f"alpha = {alpha:g}: no setting can get a p-value below alpha, however far it is "
            f"from the null, so \"not significant\" carries no information; {more}")


def design_floor(attrs: dict) -> tuple[float, str, str | None] | None:
    """(floor, how it follows from the design, warning or None) from validation.evaluate's
    attributes; computed from the member counts for results written before evaluate recorded
    them; None when there are no p-values."""
    method = str(attrs.get("lowprec_pvalue_method", "none"))
    if method not in PVALUE_METHODS:
        return None
    alpha = float(attrs.get("lowprec_alpha", 0.05))
    if "lowprec_pvalue_floor" in attrs:
        return (float(attrs["lowprec_pvalue_floor"]), str(attrs.get("lowprec_pvalue_floor_design", "")),
                attrs.get("lowprec_pvalue_warning") or None)
    n_controls = np.atleast_1d(attrs.get("lowprec_control_members", [])).size
    n_null = np.atleast_1d(attrs.get("lowprec_competitor_members", [])).size
    floor, how = pvalue_floor(method, n_controls, n_null, n_null)
    return floor, how, floor_warning(floor, alpha, method)


def design_notes(attrs: dict) -> list[str]:
    """Lines for a terminal from validation.evaluate's attributes: the p-value floor of the
    design, then "warning: ..." when it is not below alpha. [] without p-values."""
    floor = design_floor(attrs)
    if floor is None:
        return []
    value, how, warning = floor
    lines = [f"p-value floor {value:.3g} ({how}); alpha {float(attrs.get('lowprec_alpha', 0.05)):g}"]
    return lines + ([f"warning: {warning}"] if warning else [])
