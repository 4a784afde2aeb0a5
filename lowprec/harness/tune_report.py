"""What a tune writes: the [precision.components] blocks, tune.nc, the figures and report.md.

Everything here is built from tune.json's probe records (see lowprec.harness.tune), so the outputs
of a resumed tune are those of an uninterrupted one.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

FLOAT64_SBITS = 52
REPORT_DIR = "report"
STATS_FILE = "tune.nc"
MODE_COLOURS = {"nearest": "tab:blue", "stochastic": "tab:orange"}
VERDICTS = ("pass", "fail")


def write_outputs(outdir: Path, exp: Any, spec: Any, state: Mapping[str, Any], result: Any
                  ) -> dict[str, Path]:
    """Every output of a finished tune; name -> path."""
    from lowprec.harness.store import write_atomic, write_text_atomic
    files: dict[str, Path] = {}
    records = sorted(state["probes"].values(), key=lambda r: r["index"])
    for mode in spec.modes:
        path = outdir / f"precision_{mode}.toml"
        write_text_atomic(precision_block(exp, spec, result, mode, outdir.name), path)
        files[f"precision_{mode}"] = path
    files["statistics"] = outdir / STATS_FILE
    write_atomic(statistics_dataset(exp, spec, records, result), files["statistics"])
    figures = outdir / REPORT_DIR
    figures.mkdir(exist_ok=True)
    for component in spec.components:
        files[f"figure_{component}"] = _save(component_figure(spec, records, result, component),
                                             figures / f"{component}.png")
    files["figure_combined"] = _save(combined_figure(spec, result), figures / "combined.png")
    files["report"] = outdir / "report.md"
    write_text_atomic(report_markdown(exp, spec, records, result, state, outdir.name),
                      files["report"])
    return files


# --------------------------------------------------------------------------------------------
# The [precision.components] block

def precision_block(exp: Any, spec: Any, result: Any, mode: str, name: str) -> str:
    """A ready TOML block: every declared component of the model with its sbits and mode."""
    from lowprec.harness.config import get_model_class
    combined = result.combined[mode]
    alone = result.chosen(mode)
    verdict = (f"passes (validation {len(combined.attempts)} of at most {spec.combined_attempts})"
               if combined.passed and combined.attempts
               else "every component in double precision: nothing to confirm" if combined.passed
               else f"NOT CONFIRMED: still fails after {len(combined.attempts)} attempts")
    lines = [f"# lowprec tune {name}: model {exp.model}, {mode} rounding, sbits "
             f"{spec.range.low}..{spec.range.high} searched, family-wise error rate {spec.alpha}.",
             "# Each component alone (others in double): " + ", ".join(
                 f"{c} {s if s is not None else f'> {spec.range.high}'}" for c, s in alone.items()),
             f"# The combined configuration below: {verdict}.",
             "# Paste into an experiment without [precision.components] tables of its own."]
    if exp.precision.ebits is not None:
        lines.append(f"# Formats use the experiment's exponent range (ebits = {exp.precision.ebits}).")
    for component in get_model_class(exp.model).COMPONENTS:
        sbits = combined.components.get(component, FLOAT64_SBITS)
        note = ("  # not tuned: double precision" if component not in spec.components
                else "  # double precision" if sbits >= FLOAT64_SBITS else "")
        lines += ["", f"[precision.components.{component}]", f"sbits = {sbits}{note}",
                  f'mode = "{mode}"']
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# tune.nc

def _chars(values: Sequence[str], dims: tuple[str, ...], attrs: dict) -> Any:
    import xarray as xr
    da = xr.DataArray(np.array(values, dtype=str), dims=dims, attrs=attrs)
    da.encoding["dtype"] = "S1"            # CF: a char array, not a variable-length string
    return da


def statistics_dataset(exp: Any, spec: Any, records: list[dict], result: Any) -> Any:
    """Every probe's statistics as a CF-1.11 Dataset, dims (probe, component, mode, member)."""
    import xarray as xr
    from lowprec import __version__
    from lowprec.harness.config import get_model_class
    declared = list(get_model_class(exp.model).COMPONENTS)
    n_members = spec.members
    probe = np.arange(len(records), dtype=np.int64)
    data: dict[str, Any] = {}
    data["probed_component"] = _chars([r["component"] for r in records], ("probe",), {
        "long_name": "component probed (its search), or 'combined' for a combined configuration"})
    data["probe_mode"] = _chars([r["mode"] for r in records], ("probe",),
                                {"long_name": "rounding mode of the probe"})
    data["stage"] = _chars([r["stage"] for r in records], ("probe",), {
        "long_name": "stage of the search: coarse, bisect, fine, or combined"})
    data["probe_sbits"] = ("probe", np.array([r["sbits"] for r in records], np.int64), {
        "long_name": "sbits of the probed component (combined: of the widest reduced one)",
        "units": "1"})
    data["component_sbits"] = (("probe", "component"), np.array(
        [[r["components"].get(c, FLOAT64_SBITS) for c in declared] for r in records],
        np.int64).reshape(len(records), len(declared)), {
        "long_name": "sbits of every component in the probe's runs (52: double precision)",
        "units": "1"})
    data["verdict"] = ("probe", np.array([VERDICTS.index(r["verdict"]) for r in records], np.int8), {
        "long_name": "verdict of the probe's test", "flag_values": np.arange(2, dtype=np.int8),
        "flag_meanings": "pass fail"})
    data["blown_up_runs"] = ("probe", np.array([r["blown_up"] for r in records], np.int64), {
        "long_name": "runs of the probe whose state became non-finite", "units": "1"})
    data["min_pvalue"] = ("probe", _floats([r["min_pvalue"] for r in records]), {
        "long_name": "smallest permutation p-value over the scored variables", "units": "1"})
    for v in spec.variables:
        stats = [r["variables"][v] for r in records]
        units = stats[0]["units"] if stats else "1"
        label = f"global mean W1 of {v} from the double-precision controls"

        def put(name: str, key: str, long_name: str, unit: str = units) -> None:
            data[f"{name}_{v}"] = ("probe", _floats([s[key] for s in stats]),
                                   {"long_name": long_name, "units": unit})
        put("w1_global", "w1_global", f"{label}, mean over the probe's members")
        put("w1_global_null", "w1_global_null", f"{label}, mean over the null members")
        put("w1_global_excess", "excess", f"excess {label} over the null")
        put("w1_global_ratio", "ratio", f"{label} relative to the null", "1")
        put("excess_standard_error", "se", f"standard error of the excess of {v} (null spread)")
        put("mean_bias", "mean_bias", f"global mean of (probe mean - control mean) of {v}")
        put("paired_standard_error", "paired_se",
            f"standard error of the mean paired difference (probe member - null member) of {v}")
        put("pvalue_global", "pvalue", f"one-sided p-value of the excess of {v} by the probes' "
            f"test ({spec.test}), compared with the level", "1")
        put("pvalue_permutation", "pvalue_permutation", f"one-sided two-sample permutation "
            f"p-value of the excess of {v} (the validator's test)", "1")
        put("pvalue_paired", "pvalue_paired", f"one-sided sign-flip p-value of the paired "
            f"differences of {v} (probe member - null member from one initial state)", "1")
        members = np.full((len(records), n_members), np.nan)
        for i, s in enumerate(stats):
            values = _floats(s["members"])[:n_members]
            members[i, :values.size] = values
        data[f"w1_global_member_{v}"] = (("probe", "member"), members, {
            "long_name": f"{label}, each member of the probe", "units": units})
        null = _floats(stats[0]["null_members"]) if stats else np.full(n_members, np.nan)
        data[f"w1_global_null_member_{v}"] = ("member", null, {
            "long_name": f"{label}, each null member (double precision)", "units": units})
    modes = list(spec.modes)
    chosen = np.array([[_sbits(result.searches[(c, m)].chosen) if c in spec.components
                        else FLOAT64_SBITS for c in declared] for m in modes], np.int64)
    data["chosen_sbits"] = (("mode", "component"), chosen, {
        "long_name": "fewest sbits each component passes at alone, the others in double "
                     "(52: fails up to the searched range's top; untuned components 52)",
        "units": "1"})
    data["final_sbits"] = (("mode", "component"), np.array(
        [[result.combined[m].components.get(c, FLOAT64_SBITS) for c in declared] for m in modes],
        np.int64), {"long_name": "sbits of each component in the combined configuration",
                    "units": "1"})
    data["combined_verdict"] = ("mode", np.array([0 if result.combined[m].passed else 1
                                                  for m in modes], np.int8), {
        "long_name": "verdict of the combined configuration's last validation",
        "flag_values": np.arange(2, dtype=np.int8), "flag_meanings": "pass fail"})
    coords = {
        "probe": ("probe", probe, {"long_name": "probe number, in the order of the verdicts",
                                   "units": "1"}),
        "member": ("member", np.arange(spec.controls, spec.controls + n_members, dtype=np.int64),
                   {"long_name": "competitor ensemble member id", "units": "1"}),
        "component": _chars(declared, ("component",), {"long_name": "precision component"}),
        "mode": _chars(modes, ("mode",), {"long_name": "rounding mode"}),
    }
    ds = xr.Dataset(data, coords=coords)
    for name in ds.coords:
        ds[name].encoding["_FillValue"] = None
    ds.attrs = {
        "Conventions": "CF-1.11",
        "title": f"lowprec tune of {exp.model}: every probe's statistics",
        "source": f"lowprec {__version__} lowprec.harness.tune",
        "history": f"{_now()} lowprec tune",
        "lowprec_model": exp.model,
        "lowprec_alpha": spec.alpha,
        "lowprec_test_level": spec.level,
        "lowprec_tests": np.int64(spec.n_tests),
        "lowprec_error_control": ERROR_CONTROL,
        "lowprec_test": spec.test,
        "lowprec_sbits_range": f"{spec.range.low}:{spec.range.high}",
        "lowprec_coarse_step": np.int64(spec.range.coarse_step),
        "lowprec_controls": np.int64(spec.controls),
        "lowprec_members": np.int64(spec.members),
        "lowprec_variables": ", ".join(spec.variables),
    }
    return ds


ERROR_CONTROL = (
    "Bonferroni over every test the tune could make: T = searches x candidate sbits + modes x "
    "combined attempts, V variables each; a variable's p-value (the probes' test) is compared with "
    "alpha/(T V), so the probability that any verdict 'fail' is given to a configuration whose "
    "climate is double precision's is at most alpha (family-wise), whatever the adaptive order "
    "of the probes and their dependence through the shared control and null runs")


def _ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else math.nan


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _sbits(chosen: int | None) -> int:
    return FLOAT64_SBITS if chosen is None else chosen


def _now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Figures

def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def component_figure(spec: Any, records: list[dict], result: Any, component: str) -> Any:
    """Excess against sbits of one component's probes, a panel per variable.

    Modes by colour; filled markers failed, open ones passed, triangles at the top blew up;
    dashed lines mark each mode's chosen sbits. The grey band is ±2 standard errors of the
    excess as the probes' test sees it (median over the probes): from the null members' spread
    (permutation test), or of the mean paired difference (paired test, whose error bars give
    each probe's own ±2 s.e.).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    variables = list(spec.variables)
    cols = min(3, len(variables))
    rows = math.ceil(len(variables) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(6.0, 4.2 * cols), 3.4 * rows), squeeze=False)
    own = [r for r in records if r["component"] == component]
    for ax, v in zip(axes.flat, variables):
        key = "paired_se" if spec.test == "paired" else "se"
        ses = [r["variables"][v][key] for r in own if r["variables"][v].get(key)]
        band = 2 * float(np.median(ses)) if ses else 0.0
        ax.axhspan(-band, band, color="0.85",
                   label="±2 s.e., paired" if spec.test == "paired" else "null ±2 s.e.")
        ax.axhline(0, color="0.5", lw=0.8)
        finite = [r["variables"][v]["excess"] for r in own if r["variables"][v]["excess"] is not None]
        top = max([abs(x) for x in finite] + [band, 1e-300])
        bottom = max([-x for x in finite] + [0.0])          # how far below zero the data go
        for mode in spec.modes:
            colour = MODE_COLOURS.get(mode, "tab:green")
            mine = sorted((r for r in own if r["mode"] == mode), key=lambda r: r["sbits"])
            xs = [r["sbits"] for r in mine if r["variables"][v]["excess"] is not None]
            ys = [r["variables"][v]["excess"] for r in mine if r["variables"][v]["excess"] is not None]
            ax.plot(xs, ys, "-", color=colour, lw=1, label=mode)
            for r in mine:
                y = r["variables"][v]["excess"]
                failed = r["verdict"] == "fail"
                if y is None:                   # blown up: no distance
                    ax.plot(r["sbits"], top, "^", color=colour, ms=7)
                    continue
                ax.plot(r["sbits"], y, "o", ms=6, color=colour,
                        markerfacecolor=colour if failed else "white")
                paired_se = r["variables"][v].get("paired_se")
                if spec.test == "paired" and paired_se:     # the test's own noise: ±2 s.e.
                    ax.errorbar(r["sbits"], y, yerr=2 * paired_se, color=colour, lw=0.8,
                                capsize=2)
            chosen = result.searches[(component, mode)].chosen
            if chosen is not None:
                ax.axvline(chosen, color=colour, ls="--", lw=1)
                ax.annotate(f"{chosen}", (chosen, 1.0), xycoords=("data", "axes fraction"),
                            color=colour, ha="left", va="top", fontsize=8)
        if band > 0:                            # linear within the band, logarithmic beyond
            ax.set_yscale("symlog", linthresh=band, linscale=2)
            decades = [10.0 ** k for k in range(math.ceil(math.log10(band)),
                                                 math.floor(math.log10(top)) + 1)]
            ticks = [0.0] + decades + [-d for d in decades if d <= bottom]
            ax.set_yticks(ticks if decades else [-band, 0.0, band])
            ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("sbits of " + component)
        ax.set_ylabel(f"excess W1 of {v} [{own[0]['variables'][v]['units'] if own else '1'}]")
        ax.set_title(f"{component}: {v}", fontsize=10)
    for ax in axes.flat[len(variables):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{component}: filled = the probe failed (some variable's p-value <= "
                 f"{spec.level:.2g}), open = passed;\ndashed: the chosen sbits", fontsize=9)
    return fig


def combined_figure(spec: Any, result: Any) -> Any:
    """Standardised excess (excess / s.e.) of each variable at each combined attempt, per mode:
    filled markers failed, open ones passed; the grey band is ±2 standard errors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    modes = list(spec.modes)
    key = "paired_se" if spec.test == "paired" else "se"
    fig, axes = plt.subplots(1, len(modes), figsize=(4.5 * len(modes), 3.4), squeeze=False)
    for ax, mode in zip(axes.flat, modes):
        comb = result.combined[mode]
        ax.axhspan(-2, 2, color="0.85", label="±2 s.e.")
        ax.axhline(0, color="0.5", lw=0.8)
        attempts = [a["attempt"] for a in comb.attempts]
        for v in spec.variables:
            z = [_ratio(a["variables"][v]["excess"], a["variables"][v][key]) for a in comb.attempts]
            line, = ax.plot(attempts, z, "-", lw=1, label=v)
            for a, zk in zip(comb.attempts, z):
                ax.plot(a["attempt"], zk, "o", ms=6, color=line.get_color(),
                        markerfacecolor=line.get_color() if a["verdict"] == "fail" else "white")
        ax.set_yscale("symlog", linthresh=2, linscale=1)
        verdict = "passes" if comb.passed else "NOT confirmed"
        final = ", ".join(f"{c} {s}" for c, s in comb.components.items())
        ax.set_title(f"{mode}: {verdict}\n{final}", fontsize=9)
        ax.set_xlabel("combined attempt")
        ax.set_ylabel("excess / standard error")
        ax.set_xticks(attempts)
        ax.legend(fontsize=7)
    fig.suptitle("the combined configuration: filled = failed, open = passed", fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# report.md

def _trail(records: list[dict], component: str, mode: str) -> str:
    mine = sorted((r for r in records if r["component"] == component and r["mode"] == mode),
                  key=lambda r: r["index"])
    return " ".join(f"{r['sbits']}{'✓' if r['verdict'] == 'pass' else '✗'}" for r in mine)


def report_markdown(exp: Any, spec: Any, records: list[dict], result: Any,
                    state: Mapping[str, Any], name: str = "") -> str:
    """The tune's report: design, error control, each search, the combined verdicts."""
    check = result.design
    lines = [f"# lowprec tune: {exp.model}", "",
             f"Components {', '.join(spec.components)}; modes {', '.join(spec.modes)}; candidate "
             f"sbits {spec.range.low}..{spec.range.high}, coarse ladder "
             f"{', '.join(map(str, spec.range.coarse))}; M = {spec.controls} controls, "
             f"N = {spec.members} members per probe and in the null"
             + (f", members from the restarts {spec.restarts}" if spec.restarts else "")
             + f"; variables {', '.join(spec.variables)}; the probes' test: {spec.test}.", "",
             "## Error control", "",
             f"{ERROR_CONTROL}. Here T = {spec.n_tests}, V = {len(spec.variables)}, alpha = "
             f"{spec.alpha}: level {spec.level:.3g}; the smallest p-value the {spec.test} test "
             f"can give with N = {spec.members} members is {check.smallest_p:.3g}. A verdict 'pass' is the absence of "
             "evidence at that level, not a proof of equality: the excess figures show how close "
             "each passing probe is.", "",
             "## Design check", "", "```", check.summary(), "```", "",
             "## Each component alone (the others in double precision)", "",
             "| component | mode | fewest sbits | found by | coarse ladder monotone | probes (✓ pass, ✗ fail, in order) |",
             "|---|---|---|---|---|---|"]
    for (c, m), s in result.searches.items():
        chosen = (f"> {spec.range.high} (double)" if s.chosen is None
                  else f"≤ {s.chosen} (range bottom)" if s.chosen == spec.range.low
                  else str(s.chosen))
        lines.append(f"| {c} | {m} | {chosen} | {s.strategy} | "
                     f"{'yes' if s.monotone else 'no'} | {_trail(records, c, m)} |")
    lines += ["", "Figures: " + ", ".join(f"[{c}]({REPORT_DIR}/{c}.png)" for c in spec.components)
              + "; each panel: excess W1 against sbits, the null band, the chosen point.", "",
              "## The combined configuration", ""]
    for mode, comb in result.combined.items():
        verdict = "passes" if comb.passed else "is NOT confirmed"
        lines.append(f"**{mode}**: the configuration {verdict}"
                     + (f" after {len(comb.attempts)} attempt(s)." if comb.attempts
                        else " (every component in double precision: nothing to validate)."))
        for a in comb.attempts:
            comps = ", ".join(f"{c} {s}" for c, s in a["components"].items())
            lines.append(f"- attempt {a['attempt']}: {comps}: **{a['verdict']}** ({a['reason']})")
        lines.append(f"- final: `precision_{mode}.toml`")
        lines.append("")
    lines += [f"Figure: [combined]({REPORT_DIR}/combined.png). Statistics of every probe: "
              f"`{STATS_FILE}`. State: `tune.json` (created {state.get('created')}).", ""]
    for mode in spec.modes:
        lines += [f"### precision_{mode}.toml", "", "```toml",
                  precision_block(exp, spec, result, mode, name).rstrip(), "```", ""]
    return "\n".join(lines)
