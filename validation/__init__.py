"""Wasserstein validation of low-precision runs against double-precision ensembles.

    import validation
    d = validation.w1(x, y)                          # numpy, samples along the last axis
    res = validation.evaluate(lowprec.open_sweep("sweep/"), spinup=0, pool_dims=())
    validation.report(res, "figures/")

Statistics on numpy arrays (wasserstein), the ensemble design on xarray with dask (ensemble),
p-values, false-discovery control and the p-value floor of a design (significance), area
weights (weighting), the answer per variable and mode (verdict.verdict: the fewest sbits
indistinguishable from the null), figures (figures) and report.md (reporting; not named
`report`, which is the function). This package never imports the models or the harness.
"""
from validation.ensemble import combine, evaluate
from validation.significance import design_notes, fdr_reject, permutation_pvalues
from validation.wasserstein import (pair_distances_sorted, w1, w1_sorted, w1_xr, w2, w2_sorted,
                                    w2_xr)
from validation import verdict
from validation.weighting import area_weights, global_mean

__all__ = [
    "w1", "w2", "w1_sorted", "w2_sorted", "pair_distances_sorted", "w1_xr", "w2_xr",
    "evaluate", "combine", "permutation_pvalues", "fdr_reject", "design_notes", "verdict",
    "area_weights", "global_mean", "report",
]


def __getattr__(name: str):
    if name == "report":                 # matplotlib only when figures are asked for
        from validation.reporting import report
        return report
    raise AttributeError(f"module 'validation' has no attribute {name!r}")
