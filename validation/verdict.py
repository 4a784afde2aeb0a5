"""The answer of a sweep: for each variable and rounding mode, the fewest sbits whose output is
indistinguishable from double precision's.

The words, as the report and the README use them:

- A setting (sbits, mode) is *significant* when its aggregate p-value (``pvalue_global_<v>``:
  the one-sided test of the distance aggregated over all points, validation.significance) is
  at most alpha: it is farther from the double-precision controls than the null is, beyond
  what a different initial condition gives. It is *indistinguishable* when it has a distance
  and its p-value is above alpha. A setting with a blown-up run is *blown up* (no distance; not
  indistinguishable: a run that produced NaN or inf has not kept double precision's climate).
  A setting without a distance for another reason (failed or missing runs, fewer than the
  validator's min_members) is *not scored*: it is skipped, and named.
- The *fewest sbits indistinguishable* for a mode is the smallest s such that every scored
  setting of that mode with s or more sbits is indistinguishable. A response need not be
  monotone in sbits (noise in a small ensemble, or a real effect): an indistinguishable setting
  below a significant or blown-up one does not count, and is named as an exception, so the
  answer never rests on a lucky low setting. When the setting with the most sbits is itself
  significant or blown up, no tested sbits is indistinguishable.
- The evidence at each setting: the excess of its aggregate distance over the null's, its
  p-value, and the share of points where the per-point test rejects at false-discovery rate
  alpha (Benjamini–Hochberg). The per-point share is evidence of where and how widely the
  output differs, not the criterion: per-point tests are weak for small shifts, and the
  aggregate statistics carry the signal (specs/validation.md).

No p-values, no verdict. When the design's smallest attainable p-value (lowprec_pvalue_floor)
is not below alpha, every setting is "indistinguishable" for want of power: the verdict says so
(`ModeVerdict.powerless`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from validation import significance
from validation.ensemble import CONTROL_MODE, CONTROL_SBITS

__all__ = ["Evidence", "ModeVerdict", "verdict", "run_status", "was_run", "SIGNIFICANT",
           "INDISTINGUISHABLE", "BLOWN_UP", "NOT_SCORED"]

SIGNIFICANT, INDISTINGUISHABLE, BLOWN_UP, NOT_SCORED = ("significant", "indistinguishable",
                                                        "blown up", "not scored")


@dataclass(frozen=True)
class Evidence:
    """One setting's state and the numbers behind it (NaN where there is no distance)."""
    sbits: int
    mode: str
    state: str                  # SIGNIFICANT | INDISTINGUISHABLE | BLOWN_UP | NOT_SCORED
    excess: float               # aggregate distance minus the null's, units of the variable
    pvalue: float               # aggregate p-value
    points_significant: float   # share of points rejected at FDR alpha (0 or 1 for one point)


@dataclass(frozen=True)
class ModeVerdict:
    """The verdict for one variable and rounding mode."""
    mode: str
    fewest: int | None          # fewest sbits indistinguishable; None when there is none
    settings: tuple[Evidence, ...]   # every setting of the mode that was run, by sbits
    exceptions: tuple[int, ...]      # indistinguishable, but below a significant or blown-up one
    not_scored: tuple[int, ...]
    powerless: bool             # the design's p-value floor is not below alpha

    def at(self, sbits: int | None) -> Evidence | None:
        return next((e for e in self.settings if e.sbits == sbits), None)

    @property
    def below(self) -> Evidence | None:
        """The scored setting with the most sbits below the answer: what fails (or the highest
        setting tested, when none is indistinguishable)."""
        limit = self.fewest if self.fewest is not None else CONTROL_SBITS + 1
        failing = [e for e in self.settings if e.sbits < limit and e.state in (SIGNIFICANT, BLOWN_UP)]
        return failing[-1] if failing else None


def _state(results: xr.Dataset, var: str, sbits: int, mode: str, alpha: float) -> str:
    sel = {"sbits": sbits, "mode": mode}
    if bool(results["blown_up"].sel(sel).any()):
        return BLOWN_UP
    p = float(results[f"pvalue_global_{var}"].sel(sel))
    if not np.isfinite(p):
        return NOT_SCORED
    return SIGNIFICANT if p <= alpha else INDISTINGUISHABLE


def run_status(results: xr.Dataset) -> xr.DataArray:
    """Status label of each competitor run (sbits, mode, member): evaluate's run_status flags, or
    for results without them (older files) what blown_up and run_present say."""
    if "run_status" in results:
        flags = results["run_status"]
        meanings = str(flags.attrs.get("flag_meanings", "")).split()
        values = np.asarray(flags.attrs.get("flag_values", np.arange(len(meanings))))
        labels = np.full(flags.shape, "unknown", dtype=object)
        for v, label in zip(values, meanings):
            labels[flags.values == v] = label
        return xr.DataArray(labels, dims=flags.dims, coords=flags.coords)
    blown = results["blown_up"].values.astype(bool)
    present = results["run_present"].values.astype(bool)
    labels = np.where(blown, "blown_up", np.where(present, "complete", "no_output")).astype(object)
    return xr.DataArray(labels, dims=results["blown_up"].dims, coords=results["blown_up"].coords)


NOT_RUN = ("absent", "no_output", "pending")


def was_run(results: xr.Dataset, sbits: int, mode: str) -> bool:
    """Did any competitor run of this setting start (complete, blown up or failed)? Settings
    never run are not part of the design (e.g. sbits 52 with stochastic rounding)."""
    status = run_status(results).sel(sbits=sbits, mode=mode).values
    return bool(np.any([str(v) not in NOT_RUN for v in status]))


def _points_significant(results: xr.Dataset, var: str, sel: dict) -> float:
    key = f"reject_fdr_{var}"
    if key not in results:
        return np.nan
    return float(results[key].sel(sel).mean())


def verdict(results: xr.Dataset, var: str) -> list[ModeVerdict] | None:
    """The verdict per rounding mode for variable `var` of validation.evaluate's `results`
    (module docstring); None when the results have no p-values."""
    if f"pvalue_global_{var}" not in results:
        return None
    alpha = float(results.attrs.get("lowprec_alpha", 0.05))
    floor = significance.design_floor(results.attrs)
    powerless = floor is not None and floor[0] >= alpha
    out = []
    for mode in (str(m) for m in results["mode"].values):
        evidence = []
        for s in sorted(int(s) for s in results["sbits"].values):
            if (s, mode) == (CONTROL_SBITS, CONTROL_MODE) or not was_run(results, s, mode):
                continue
            sel = {"sbits": s, "mode": mode}
            evidence.append(Evidence(
                sbits=s, mode=mode, state=_state(results, var, s, mode, alpha),
                excess=float(results[f"w1_global_excess_{var}"].sel(sel)),
                pvalue=float(results[f"pvalue_global_{var}"].sel(sel)),
                points_significant=_points_significant(results, var, sel)))
        if not evidence:
            continue
        fewest = None
        for e in reversed(evidence):            # from the most sbits down
            if e.state == INDISTINGUISHABLE:
                fewest = e.sbits
            elif e.state in (SIGNIFICANT, BLOWN_UP):
                break
        exceptions = tuple(e.sbits for e in evidence if e.state == INDISTINGUISHABLE
                           and (fewest is None or e.sbits < fewest))
        out.append(ModeVerdict(mode=mode, fewest=fewest, settings=tuple(evidence),
                               exceptions=exceptions,
                               not_scored=tuple(e.sbits for e in evidence if e.state == NOT_SCORED),
                               powerless=powerless))
    return out
