"""report.md and the figures from the Dataset validation.evaluate returns: the answer first.

report.md leads with the design (and what it can show: its p-value floor) and the verdict per
variable and mode (validation.verdict: the fewest sbits indistinguishable from the null, with
the evidence), then one line per figure saying what to look for (validation.figures), then a
table per variable, the runs that did not complete, and the details of the validation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from validation import figures, significance
from validation.ensemble import CONTROL_MODE, CONTROL_SBITS
from validation.verdict import BLOWN_UP, ModeVerdict, run_status, verdict

__all__ = ["report", "variables_in", "markdown", "verdict_section"]


def variables_in(results: xr.Dataset) -> list[str]:
    """The model variables scored in `results` (its lowprec_variables attribute)."""
    names = str(results.attrs.get("lowprec_variables", "")).split(", ")
    return [v for v in names if v and f"w1_global_{v}" in results]


def _fmt(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.4g}"


def _units(results: xr.Dataset, var: str) -> str:
    u = str(results[f"w1_global_{var}"].attrs.get("units", ""))
    return "" if u in ("1", "") else f" {u}"


def _has_points(results: xr.Dataset, var: str) -> bool:
    return bool(figures.space_dims(results[f"w1_{var}"]))


def _name(results: xr.Dataset, var: str) -> str:
    """"soil temperature (T)"; the long_name alone when it names the variable ("Lorenz-63 x")."""
    short = figures.short_name(results, var)
    return short if var in short.split() else f"{short} ({var})"


def _null_is_zero(results: xr.Dataset, var: str) -> bool:
    return float(results[f"w1_global_null_{var}"]) == 0.0


# --- the design and the verdict

def _design(results: xr.Dataset) -> list[str]:
    a = results.attrs
    controls = [int(m) for m in np.atleast_1d(a.get("lowprec_control_members", []))]
    competitors = [int(m) for m in np.atleast_1d(a.get("lowprec_competitor_members", []))]
    line = (f"Design: {len(controls)} double-precision controls (members {controls}); "
            f"{len(competitors)} competitor members (members {competitors}) run at every setting "
            "and, in double precision, as the null.")
    floor = significance.design_floor(a)
    if floor is None:
        return [line, "", "No p-values were computed (`--no-pvalues`): no verdict.", ""]
    value, how, warning = floor
    line += (f" Test: {a.get('lowprec_pvalue_description', a.get('lowprec_pvalue_method'))}; "
             f"alpha = {float(a['lowprec_alpha']):g}; p-value floor (the smallest p-value this "
             f"design can give) {value:.3g}: {how}.")
    out = [line, ""]
    if warning:
        out += [f"**Warning: {warning}.**", ""]
    return out


def _evidence(results: xr.Dataset, var: str, e) -> str:
    if e is None:
        return "–"
    if e.state == BLOWN_UP:
        return f"{e.sbits}: blown up"
    if not np.isfinite(e.pvalue):
        return f"{e.sbits}: not scored"
    text = f"{e.sbits}: excess {_fmt(e.excess)}{_units(results, var)}, p {e.pvalue:.3g}"
    if _has_points(results, var) and np.isfinite(e.points_significant):
        text += f", {e.points_significant:.0%} of points"
    return text


def _answer(v: ModeVerdict) -> str:
    if v.fewest is not None:
        return f"**{v.fewest}**"
    tested = [e.sbits for e in v.settings]
    return f"none of {min(tested)}–{max(tested)}" if len(tested) > 1 else f"not {tested[0]}"


def verdict_section(results: xr.Dataset, variables: list[str], definition: bool = True) -> list[str]:
    """The "## Verdict" section of report.md (validation.verdict), as lines; without the
    paragraph defining its words when not `definition`."""
    alpha = float(results.attrs.get("lowprec_alpha", 0.05))
    out = ["## Verdict", ""]
    if definition:
        out += [f"A setting is *indistinguishable* from double precision when its aggregate "
                f"distance is not significantly larger than the null's (p > {alpha:g}); *the "
                "fewest sbits indistinguishable* is the smallest sbits from which every setting "
                "of that mode with as many bits or more is indistinguishable. Settings below it "
                "that are indistinguishable anyway (the response is not monotone in sbits) are "
                "named, not counted; a blow-up is never indistinguishable. Evidence: the excess "
                "of the aggregate distance over the null, its p-value, and the share of points "
                f"significant at false-discovery rate {alpha:g}.", ""]
    verdicts = {var: verdict(results, var) for var in variables}
    if all(v is None for v in verdicts.values()):
        return out + ["No p-values, no verdict: validate again without `--no-pvalues`.", ""]
    out += ["| variable | mode | fewest sbits indistinguishable | evidence there | fewer bits: evidence |",
            "|---|---|---:|---|---|"]
    notes = []
    for var, modes in verdicts.items():
        for v in modes or []:
            out.append(f"| {_name(results, var)} | {v.mode} | {_answer(v)} | "
                       f"{_evidence(results, var, v.at(v.fewest))} | {_evidence(results, var, v.below)} |")
            if v.exceptions:
                notes.append(f"- {var}, {v.mode}: also indistinguishable at {_list(v.exceptions)} sbits, "
                             "below a significant or blown-up setting: the response is not monotone "
                             "in sbits there (noise in a small ensemble, or a real effect); not counted.")
            if v.not_scored:
                notes.append(f"- {var}, {v.mode}: not scored at {_list(v.not_scored)} sbits (failed or "
                             "missing runs): skipped.")
        if modes and _null_is_zero(results, var):
            notes.append(f"- {var}: the null is exactly 0 (see below): any rounding difference is "
                         "significant, so read the size of the excess, not the p-values.")
    if any(v.powerless for modes in verdicts.values() for v in modes or []):
        notes.append("- This design cannot show significance (see the warning above): every "
                     "\"indistinguishable\" here is for want of power, not evidence.")
    return out + ([""] + notes if notes else []) + [""]


def _list(sbits: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in sbits)


# --- the tables

def _runs_cell(labels: list[str]) -> str:
    """"5" when every run completed, else e.g. "3 of 5: 1 blown up, 1 failed"."""
    total = sum(v != "absent" for v in labels)
    done = sum(v == "complete" for v in labels)
    if done == total:
        return str(done)
    counts: dict[str, int] = {}
    for v in labels:
        if v not in ("complete", "absent"):
            counts[v.replace("_", " ")] = counts.get(v.replace("_", " "), 0) + 1
    return f"{done} of {total}: " + ", ".join(f"{n} {what}" for what, n in counts.items())


def _fdr_cell(results: xr.Dataset, var: str, sel: dict) -> str:
    key = f"reject_fdr_{var}"
    if key not in results:
        return "–"
    reject = results[key].sel(sel)
    if not _has_points(results, var):
        return "yes" if bool(reject) else "no"
    return f"{float(reject.mean()):.1%}"


def _null_line(results: xr.Dataset, var: str) -> str:
    null = float(results[f"w1_global_null_{var}"])
    if null == 0.0:
        return ("Null (double vs double): **0 exactly**. The double-precision runs are identical "
                "(a deterministic model, every member started from the same state), so the null "
                "has no spread: every distance below is rounding error, any setting that differs "
                "at all is significant, and a ratio to the null is undefined (not shown).")
    return f"Null (double vs double): {_fmt(null)}{_units(results, var)}."


def _variable_table(results: xr.Dataset, var: str) -> list[str]:
    units = str(results[f"w1_global_{var}"].attrs.get("units", ""))
    status = run_status(results)
    zero = _null_is_zero(results, var)
    pvalues = f"pvalue_global_{var}" in results
    agg = figures.aggregate(results, var)
    columns = ["sbits", "mode", "runs", f"{figures.statistic(results)}{' (' + agg + ')' if agg else ''}",
               "excess"] + ([] if zero else ["ratio"]) + (["p"] if pvalues else []) + ["mean bias"]
    columns += ["significant points"] if pvalues else []
    lines = [f"## {_name(results, var)}{figures.units_text(units)}", "",
             _null_line(results, var), "",
             "| " + " | ".join(columns) + " |",
             "|" + "|".join("---" if c == "mode" else "---:" for c in columns) + "|"]
    null = float(results[f"w1_global_null_{var}"])
    any_nan = False
    for s in results["sbits"].values:
        for m in results["mode"].values:
            if (int(s), str(m)) == (CONTROL_SBITS, CONTROL_MODE):
                continue        # the null: its numbers are the line above
            sel = {"sbits": s, "mode": m}
            labels = [str(v) for v in status.sel(sel).values]
            if all(v in ("absent", "no_output") for v in labels):
                continue        # not part of the design
            runs = _runs_cell(labels)
            w = float(results[f"w1_global_{var}"].sel(sel))
            mark = lambda x: _fmt(x) + ("*" if not np.isfinite(x) else "")
            any_nan |= not np.isfinite(w)
            row = [str(s), str(m), runs, mark(w), mark(w - null)]
            row += [] if zero else [mark(w / null)]
            row += [_fmt(float(results[f"pvalue_global_{var}"].sel(sel)))] if pvalues else []
            row += [mark(float(results[f"mean_bias_{var}"].sel(sel)))]
            row += [_fdr_cell(results, var, sel)] if pvalues else []
            lines.append("| " + " | ".join(row) + " |")
    if any_nan:
        lines += ["", f"NaN*: no distance for this setting: members blew up (a blown-up run is never "
                      f"averaged in) or failed, leaving fewer than "
                      f"{results.attrs.get('lowprec_min_members', 2)} complete runs; see \"Runs that "
                      "did not complete\"."]
    return lines + [""]


def _status_section(results: xr.Dataset) -> list[str]:
    """Runs that did not complete, per setting (settings not in the design are left out)."""
    status = run_status(results)
    lines = []
    for s in results["sbits"].values:
        for m in results["mode"].values:
            labels = [str(v) for v in status.sel(sbits=s, mode=m).values]
            if all(v in ("absent", "no_output") for v in labels):
                continue
            bad = [f"member {k}: {v.replace('_', ' ')}" for k, v in zip(status["member"].values, labels)
                   if v != "complete"]
            if bad:
                lines.append(f"- {s} sbits {m}: " + "; ".join(bad))
    out = ["## Runs that did not complete", ""]
    out += lines or ["All competitor runs of the settings that were run completed."]
    return out + [""]


def _details(results: xr.Dataset) -> list[str]:
    a = results.attrs
    if "lowprec_run_spinup" in a:
        spinup = (f"runs {a['lowprec_run_spinup']} (before their first output); the validator "
                  f"discarded {a.get('lowprec_spinup_discarded_outputs')} further outputs")
    else:
        spinup = str(a.get("lowprec_spinup_discarded"))
    out = ["## Details", "",
           f"- Spin-up: {spinup}.",
           f"- Pooled into each sample: {a.get('lowprec_pooled_dims')}; weights: {a.get('lowprec_weights')}."]
    if "lowprec_time_alignment" in a:
        out.append(f"- Time: {a['lowprec_time_alignment']}.")
    return out + [""]


def markdown(results: xr.Dataset, variables: list[str],
             captions: list[tuple[str, str]] | None = None) -> str:
    """report.md: the design, the verdict, one line per figure (name, caption), the tables."""
    lines = ["# Validation: how few significand bits before the output differs from double precision?", ""]
    lines += _design(results)
    lines += verdict_section(results, variables)
    if captions:
        names_by_caption: dict[str, list[str]] = {}
        for name, caption in captions:          # one line per caption, its figures together
            names_by_caption.setdefault(caption, []).append(f"`{name}`")
        lines += ["## Figures", ""] + [f"- {', '.join(names)}: {caption}"
                                       for caption, names in names_by_caption.items()] + [""]
    for var in variables:
        lines += _variable_table(results, var)
    lines += _status_section(results)
    lines += _details(results)
    return "\n".join(lines)


def _save(figure: figures.Figure, outdir: Path) -> Path:
    """Write the figure as a PNG in `outdir` and free it."""
    import matplotlib.pyplot as plt
    path = outdir / figure.name
    figure.figure.savefig(path, dpi=90)
    plt.close(figure.figure)
    return path


def report(results: xr.Dataset, outdir: str | Path) -> list[Path]:
    """Write the figures and report.md for `results` (from validation.evaluate) into `outdir`.

    Per variable, the figures of validation.figures that apply (the answer against sbits; maps
    for 2-D models; the aggregate mean against time; W over growing windows; profiles for
    column models); report.md as the module docstring says. Times are plotted as time after
    spin-up (days or years for dates). Returns the paths written, report.md last.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # Undecoded times (numbers "days since ...", e.g. opened with decode_times=False) become
    # dates, so window ends and the series share one axis; decoded data are left as they are.
    results = xr.decode_cf(results, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    variables = variables_in(results)
    paths: list[Path] = []
    captions: list[tuple[str, str]] = []
    for var in variables:
        for draw in figures.FIGURES:
            figure = draw(results, var)
            if figure is not None:
                paths.append(_save(figure, outdir))
                captions.append((figure.name, figure.caption))
    table = outdir / "report.md"
    table.write_text(markdown(results, variables, captions) + "\n")
    paths.append(table)
    return paths
