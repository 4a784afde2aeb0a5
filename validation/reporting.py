"""Figures (PNG, matplotlib Agg) and a markdown table from the Dataset validation.evaluate returns."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from validation.ensemble import CONTROL_MODE, CONTROL_SBITS  # noqa: E402

__all__ = ["report", "variables_in"]

_SETTING_DIMS = ("sbits", "mode", "member", "control_member", "window")


def variables_in(results: xr.Dataset) -> list[str]:
    """The model variables scored in `results` (its lowprec_variables attribute)."""
    names = str(results.attrs.get("lowprec_variables", "")).split(", ")
    return [v for v in names if v and f"w1_global_{v}" in results]


def _space(da: xr.DataArray) -> list[str]:
    return [d for d in da.dims if d not in _SETTING_DIMS]


def _modes(results: xr.Dataset) -> list[str]:
    return [str(m) for m in results["mode"].values]


def _settings(results: xr.Dataset, var: str) -> list[tuple[int, str]]:
    w = results[f"w1_global_{var}"]
    return [(int(s), str(m)) for s in results["sbits"].values for m in results["mode"].values
            if (int(s), str(m)) != (CONTROL_SBITS, CONTROL_MODE)
            and np.isfinite(float(w.sel(sbits=s, mode=m)))]


def _run_status(results: xr.Dataset) -> xr.DataArray:
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


_NOT_RUN = ("absent", "no_output", "pending")


def _was_run(results: xr.Dataset, sbits: int, mode: str) -> bool:
    """Did any competitor run of this setting start (complete, blown up or failed)?"""
    status = _run_status(results).sel(sbits=sbits, mode=mode).values
    return bool(np.any([str(v) not in _NOT_RUN for v in status]))


def _sbits_colours(sbits: Sequence[int]) -> dict[int, Any]:
    """One colour per sbits value (viridis, fewest bits darkest), shared by the figures."""
    low = sorted(set(sbits))
    return {s: plt.cm.viridis(k / max(1, len(low) - 1)) for k, s in enumerate(low)}


MODE_STYLE = {"nearest": "o-", "stochastic": "s--"}     # other modes: dotted


def _save(fig: plt.Figure, path: Path, layout: bool = True) -> Path:
    """Write `fig` as a PNG at `path` (tight layout unless already laid out) and free it."""
    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _global_fig(results: xr.Dataset, var: str) -> plt.Figure:
    """Global W and its excess against sbits, one column per rounding mode.

    Double precision is the null: drawn as the band of its pair distances and the line of its
    mean, never as a point at sbits 52 (a point there would look like one more setting). Other
    settings at sbits 52 (stochastic rounding of float64 results) are points, the tick labelled.
    """
    units = results[f"w1_global_{var}"].attrs.get("units", "")
    modes = _modes(results)
    fig, axes = plt.subplots(2, len(modes), figsize=(4.5 * len(modes), 7), squeeze=False)
    null = float(results[f"w1_global_null_{var}"])
    pairs = results[f"w1_global_null_pairs_{var}"].values.ravel()
    for j, mode in enumerate(modes):
        # only settings that were run: a (52, stochastic) column of NaN gets no "float64" tick
        sbits = [int(s) for s in results["sbits"].values if (int(s), mode) != (CONTROL_SBITS, CONTROL_MODE)
                 and _was_run(results, int(s), mode)]
        blown = results["blown_up"].sel(mode=mode, sbits=sbits).any("member").values
        for i, (key, null_level) in enumerate(((f"w1_global_{var}", null),
                                                (f"w1_global_excess_{var}", 0.0))):
            ax = axes[i, j]
            offset = null if i == 1 else 0.0
            ax.axhspan(np.min(pairs) - offset, np.max(pairs) - offset, color="0.85",
                       label="double precision: null pairs (min–max)")
            ax.axhline(null_level, color="0.4", lw=1, label="double precision: null mean")
            if sbits:
                ax.plot(sbits, results[key].sel(mode=mode, sbits=sbits).values, "o-", color="C0",
                        label=f"{mode}: mean over members")
                members = results[f"w1_global_member_{var}"].sel(mode=mode, sbits=sbits)
                for k in members["member"].values:
                    ax.plot(sbits, members.sel(member=k).values - offset, ".", color="C0", alpha=0.4)
                for n, s in enumerate(np.asarray(sbits)[blown]):
                    ax.axvline(s, color="C3", ls=":", lw=1,
                               label="a member blew up (distance NaN)" if n == 0 else None)
                ax.set_xscale("log", base=2)
                ax.set_xticks(sbits, [f"{s}\n(float64)" if s == CONTROL_SBITS else str(s) for s in sbits])
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_title(f"{var}, {mode}")
            ax.set_ylabel(("global W" if i == 0 else "excess over null") + f" [{units}]")
            if i == 1:
                ax.set_xlabel("significand bits (sbits)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _global_figure(results: xr.Dataset, var: str, outdir: Path) -> Path:
    return _save(_global_fig(results, var), outdir / f"global_{var}.png", layout=False)


def _elapsed(values: np.ndarray, start: object, units: str) -> tuple[np.ndarray, str]:
    """values − start as numbers and an axis label: days, or years beyond two years, for dates
    (numpy datetime64 or cftime, e.g. the 365_day calendar); model time in `units` otherwise."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        days = (values - np.datetime64(start)) / np.timedelta64(1, "D")
    elif values.dtype.kind == "O":                      # cftime dates: differences are timedeltas
        days = np.array([(t - start).total_seconds() / 86400.0 for t in values])
    else:
        return values - start, f"time after spin-up [{units or '1'}]"
    if np.nanmax(np.abs(days), initial=0.0) > 2 * 365:
        year = 365.0 if getattr(start, "calendar", "") in ("365_day", "noleap") else 365.25
        return days / year, "time after spin-up [years]"
    return days, "time after spin-up [days]"


def _start_time(results: xr.Dataset) -> xr.DataArray | None:
    """The first time after spin-up (the time axis of the global-mean series), if kept."""
    return results["time"][0] if "time" in results.coords and results.sizes.get("time") else None


def _timeseries_figure(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    key = f"global_mean_t_{var}"
    if key not in results:
        return []
    series, controls = results[key], results.get(f"global_mean_t_control_{var}")
    tdim = next((d for d in series.dims if str(d).startswith("time")), None)
    if tdim is None or results.sizes.get(tdim, 0) < 2:
        return []
    time = results[tdim]        # time, or time_1d for a variable averaged over longer intervals
    start = _start_time(results)
    origin = start.values[()] if start is not None else time.values[0]
    t, label = _elapsed(time.values, origin, time.attrs.get("units", ""))
    window = _smoothing_window(results, t.size)
    smooth = lambda y: _running_mean(np.asarray(y, dtype=np.float64), window)
    t = smooth(t)
    modes = _modes(results)
    settings = [(int(s), str(m)) for s in results["sbits"].values for m in modes
                if (int(s), str(m)) != (CONTROL_SBITS, CONTROL_MODE)
                and np.isfinite(series.sel(sbits=s, mode=m).values).any()]
    colours = _sbits_colours([s for s, _ in settings])
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes):
        if controls is not None:
            for n, k in enumerate(controls["control_member"].values):
                ax.plot(t, smooth(controls.sel(control_member=k).values), color="0.7", lw=0.8,
                        label="double precision: each control" if n == 0 else None)
        ax.plot(t, smooth(series.sel(sbits=CONTROL_SBITS, mode=CONTROL_MODE).values), "k-", lw=2,
                label="double precision: null (member mean)")
        for s, m in settings:
            if m == mode:
                ax.plot(t, smooth(series.sel(sbits=s, mode=m).values), color=colours[s], lw=1.2,
                        label=f"{s} sbits (member mean)")
        ax.set_title(f"{var}, {mode}" + (f"\nrunning mean over {window} outputs" if window > 1 else ""))
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel(f"global mean {var} [{series.attrs.get('units', '')}]")
    return [_save(fig, outdir / f"timeseries_{var}.png")]


_MAX_POINTS = 500     # a series with more outputs than this is drawn as a running mean


def _smoothing_window(results: xr.Dataset, n_time: int) -> int:
    """Outputs per running-mean window of the global-mean series: 1 (raw) for short series of
    spatial means; about n/100 when sample dims (Lorenz-63's particles) are pooled (a mean over
    a few chaotic trajectories is noise at every output) or when there are over _MAX_POINTS."""
    pooled = [d for d in str(results.attrs.get("lowprec_pooled_dims", "time")).split(", ") if d != "time"]
    if not pooled and n_time <= _MAX_POINTS:
        return 1
    return max(1, n_time // 100)


def _running_mean(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of each `window` consecutive values (len(y) − window + 1 of them; NaN propagates)."""
    if window <= 1:
        return y
    return np.convolve(y, np.full(window, 1.0 / window), mode="valid")


def _map_figures(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    excess = results[f"w1_excess_{var}"]
    space = _space(excess)
    if len(space) != 2:
        return []
    reject = results.get(f"reject_fdr_{var}")
    settings = _settings(results, var)
    if not settings:
        return []
    y, x = space
    fig, axes = plt.subplots(len(settings), 1, figsize=(6, 3 * len(settings)), squeeze=False)
    limit = float(np.nanmax(np.abs(excess.values))) or 1.0
    for ax, (s, m) in zip(axes[:, 0], settings):
        field = excess.sel(sbits=s, mode=m).transpose(y, x)
        mesh = ax.pcolormesh(field[x].values, field[y].values, field.values, cmap="RdBu_r",
                             vmin=-limit, vmax=limit, shading="auto")
        fig.colorbar(mesh, ax=ax, label=f"excess W [{excess.attrs.get('units', '')}]")
        if reject is not None:
            r = reject.sel(sbits=s, mode=m).transpose(y, x).values
            yy, xx = np.meshgrid(field[y].values, field[x].values, indexing="ij")
            ax.plot(xx[r], yy[r], "k.", ms=2, label="FDR-significant")
            ax.set_title(f"{var}: {s} sbits {m} ({r.mean():.0%} of points significant)", fontsize=9)
        else:
            ax.set_title(f"{var}: {s} sbits {m}", fontsize=9)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    return [_save(fig, outdir / f"map_excess_{var}.png")]


def _convergence_figure(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    key = f"w1_global_t_{var}"
    if key not in results:
        return []
    wt = results[key]
    start = _start_time(results)
    if "window_end" in results.coords and start is not None:
        t, label = _elapsed(results["window_end"].values, start.values[()], start.attrs.get("units", ""))
        label = label.replace("time after spin-up", "window length after spin-up")
    else:
        t, label = results["window"].values, "window length after spin-up [time steps]"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, results[f"w1_global_t_null_{var}"].values, "k-", lw=2, label="null")
    settings = _settings(results, var)
    colours = _sbits_colours([s for s, _ in settings])
    for s, m in settings:
        ax.plot(t, wt.sel(sbits=s, mode=m).values, MODE_STYLE.get(m, "^:"), color=colours[s],
                ms=3, label=f"{s} sbits {m}")
    ax.set_xlabel(label)
    ax.set_ylabel(f"global W [{wt.attrs.get('units', '')}]")
    ax.set_title(f"{var}: W(t) over growing windows")
    ax.legend(fontsize=7)
    return [_save(fig, outdir / f"wt_{var}.png")]


def _profile_figure(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    w = results[f"w1_{var}"]
    if _space(w) != ["depth"]:
        return []
    fig, ax = plt.subplots(figsize=(5, 5))
    depth = w["depth"].values
    ax.plot(results[f"w1_null_{var}"].values, depth, "k-", lw=2, label="null")
    settings = _settings(results, var)
    colours = _sbits_colours([s for s, _ in settings])
    for s, m in settings:
        ax.plot(w.sel(sbits=s, mode=m).values, depth, MODE_STYLE.get(m, "^:"), color=colours[s],
                ms=3, label=f"{s} sbits {m}")
    ax.invert_yaxis()
    ax.set_xlabel(f"W [{w.attrs.get('units', '')}]")
    ax.set_ylabel(f"depth [{w['depth'].attrs.get('units', '')}]")
    ax.set_title(f"{var}: distance profile")
    ax.legend(fontsize=7)
    return [_save(fig, outdir / f"profile_{var}.png")]


LINE_STYLE = {"nearest": "-", "stochastic": "--"}      # other modes: dotted


def _final_profile_figure(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    """The state at the last output, member mean per setting, against a 1-D model's one space
    dim (the heat column: stagnation at few bits shows as a profile that stopped warming)."""
    key = f"final_mean_{var}"
    if key not in results or len(_space(results[key])) != 1:
        return []
    final = results[key]
    (dim,) = _space(final)
    z = final[dim].values
    settings = [(s, m) for s, m in ((int(s), str(m)) for s in results["sbits"].values
                                    for m in results["mode"].values)
                if (s, m) != (CONTROL_SBITS, CONTROL_MODE)
                and np.isfinite(final.sel(sbits=s, mode=m).values).any()]
    colours = _sbits_colours([s for s, _ in settings])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(results[f"final_mean_control_{var}"].values, z, "k-", lw=2.5,
            label="double precision: controls (mean)")
    for s, m in settings:
        ax.plot(final.sel(sbits=s, mode=m).values, z, LINE_STYLE.get(m, ":"), color=colours[s],
                lw=1.3, label=f"{s} sbits {m}" + (" (float64)" if s == CONTROL_SBITS else ""))
    if dim == "depth" or final[dim].attrs.get("positive") == "down":
        ax.invert_yaxis()
    when = final.attrs.get("lowprec_time", "the last output")
    ax.set_xlabel(f"{var} [{final.attrs.get('units', '')}]")
    ax.set_ylabel(f"{dim} [{final[dim].attrs.get('units', '')}]")
    ax.set_title(f"{var} at {when}: member mean per setting", fontsize=9)
    ax.legend(fontsize=7)
    return [_save(fig, outdir / f"final_profile_{var}.png")]


def _time_mean_map_figure(results: xr.Dataset, var: str, outdir: Path) -> list[Path]:
    """Time-mean state minus the controls' for each mode's fewest-bits scored setting (2-D)."""
    key = f"time_mean_{var}"
    if key not in results or len(_space(results[key])) != 2:
        return []
    diff = results[key] - results[f"time_mean_control_{var}"]
    chosen = []
    for m in _modes(results):
        scored = [int(s) for s in results["sbits"].values
                  if (int(s), m) != (CONTROL_SBITS, CONTROL_MODE)
                  and np.isfinite(diff.sel(sbits=s, mode=m).values).any()]
        if scored:
            chosen.append((min(scored), m))
    if not chosen:
        return []
    y, x = _space(diff)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(6, 3 * len(chosen)), squeeze=False)
    limit = float(np.nanmax(np.abs([diff.sel(sbits=s, mode=m).values for s, m in chosen]))) or 1.0
    for ax, (s, m) in zip(axes[:, 0], chosen):
        field = diff.sel(sbits=s, mode=m).transpose(y, x)
        mesh = ax.pcolormesh(field[x].values, field[y].values, field.values, cmap="RdBu_r",
                             vmin=-limit, vmax=limit, shading="auto")
        fig.colorbar(mesh, ax=ax, label=f"[{results[key].attrs.get('units', '')}]")
        ax.set_title(f"time-mean {var}: {s} sbits {m} minus double-precision controls", fontsize=9)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    return [_save(fig, outdir / f"map_time_mean_{var}.png")]


def _fmt(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.4g}"


def _spinup_line(results: xr.Dataset) -> str:
    if "lowprec_run_spinup" in results.attrs:
        return (f"spin-up: runs {results.attrs['lowprec_run_spinup']} (before their first output); "
                f"validator discarded {results.attrs.get('lowprec_spinup_discarded_outputs')} "
                "further outputs")
    return f"spin-up discarded: {results.attrs.get('lowprec_spinup_discarded')}"


def _fdr_cell(results: xr.Dataset, var: str, sel: dict) -> str:
    """Share of points rejected at the FDR level; for one pooled test (no space dims) yes/no."""
    key = f"reject_fdr_{var}"
    if key not in results or (int(sel["sbits"]), str(sel["mode"])) == (CONTROL_SBITS, CONTROL_MODE):
        return "–"
    reject = results[key].sel(sel)
    if not _space(results[key]):
        return "yes" if bool(reject) else "no"
    return f"{float(reject.mean()):.1%}"


def _status_section(results: xr.Dataset) -> list[str]:
    """Runs that did not complete, per setting (settings with no run at all listed once)."""
    status = _run_status(results)
    lines, not_run = [], []
    for s in results["sbits"].values:
        for m in results["mode"].values:
            labels = [str(v) for v in status.sel(sbits=s, mode=m).values]
            if all(v in ("absent", "no_output") for v in labels):
                if (int(s), str(m)) != (CONTROL_SBITS, CONTROL_MODE):
                    not_run.append(f"{s} {m}")
                continue
            bad = [f"member {k}: {v.replace('_', ' ')}" for k, v in zip(status["member"].values, labels)
                   if v != "complete"]
            if bad:
                lines.append(f"- {s} sbits {m}: " + "; ".join(bad))
    out = ["## Runs that did not complete", ""]
    out += lines or ["All competitor runs of the settings that were run completed."]
    if not_run:
        out += ["", "Settings with no competitor run: " + ", ".join(not_run) + "."]
    return out + [""]


def _table(results: xr.Dataset, variables: list[str]) -> str:
    lines = ["# Validation: distances from the double-precision controls", "",
             f"Controls: members {results.attrs.get('lowprec_control_members')}; competitors "
             f"{results.attrs.get('lowprec_competitor_members')}; {_spinup_line(results)}; pooled: "
             f"{results.attrs.get('lowprec_pooled_dims')}; weights: {results.attrs.get('lowprec_weights')}.",
             ""]
    if "lowprec_time_alignment" in results.attrs:
        lines += [f"Time: {results.attrs['lowprec_time_alignment']}.", ""]
    status = _run_status(results)
    min_members = results.attrs.get("lowprec_min_members", 2)
    for var in variables:
        units = results[f"w1_global_{var}"].attrs.get("units", "")
        lines += [f"## {var} [{units}]", "",
                  f"Null (double vs double): {_fmt(float(results[f'w1_global_null_{var}']))}", "",
                  "| sbits | mode | members | blown up | failed or missing | W global | excess | "
                  "ratio | p (global) | mean bias | FDR-significant points |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        null = float(results[f"w1_global_null_{var}"])
        any_nan = False
        for s in results["sbits"].values:
            for m in results["mode"].values:
                sel = {"sbits": s, "mode": m}
                labels = [str(v) for v in status.sel(sel).values]
                if all(v in ("absent", "no_output") for v in labels):
                    continue
                w = float(results[f"w1_global_{var}"].sel(sel))
                n = int(results["n_members"].sel(sel))
                blown = sum(v == "blown_up" for v in labels)
                lost = sum(v not in ("complete", "blown_up") for v in labels)
                p = float(results[f"pvalue_global_{var}"].sel(sel)) if f"pvalue_global_{var}" in results else np.nan
                mark = lambda x: _fmt(x) + ("*" if not np.isfinite(x) else "")
                any_nan |= not np.isfinite(w)
                lines.append(f"| {s} | {m} | {n} | {blown} | {lost} | {mark(w)} | {mark(w - null)} | "
                             f"{mark(w / null if null else np.nan)} | {_fmt(p)} | "
                             f"{mark(float(results[f'mean_bias_{var}'].sel(sel)))} | "
                             f"{_fdr_cell(results, var, sel)} |")
        if any_nan:
            lines += ["", f"NaN*: no distance for this setting — members blew up (a blown-up run is "
                          f"never averaged in) or failed, leaving fewer than {min_members} complete "
                          "runs; see \"Runs that did not complete\"."]
        lines.append("")
    lines += _status_section(results)
    return "\n".join(lines)


def report(results: xr.Dataset, outdir: str | Path) -> list[Path]:
    """Write the figures and report.md for `results` (from validation.evaluate) into `outdir`.

    Per variable: global W and excess against sbits (nearest and stochastic side by side, the
    spread of the null pair distances as a band); maps of the excess with FDR-significant points
    (2 spatial dims); W(t) curves (if windows were computed); time series of the global mean per
    setting against the double-precision runs (where stagnation shows; a running mean when
    sample dims are pooled or the series is long); for 1-D models the W profile and the state at
    the last output per setting (colour per sbits, line style per mode, the controls in black);
    for 2-D models a map of the time-mean state minus the controls' for each mode's fewest-bits
    setting. report.md lists the runs that did not complete. Times are plotted as time after spin-up (days or years for dates).
    Returns the paths written, report.md last.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # Undecoded times (numbers "days since ...", e.g. opened with decode_times=False) become
    # dates, so window ends and the series share one axis; decoded data are left as they are.
    results = xr.decode_cf(results, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    variables = variables_in(results)
    paths: list[Path] = []
    for var in variables:
        paths.append(_global_figure(results, var, outdir))
        paths += _map_figures(results, var, outdir)
        paths += _convergence_figure(results, var, outdir)
        paths += _timeseries_figure(results, var, outdir)
        paths += _profile_figure(results, var, outdir)
        paths += _final_profile_figure(results, var, outdir)
        paths += _time_mean_map_figure(results, var, outdir)
    table = outdir / "report.md"
    table.write_text(_table(results, variables) + "\n")
    paths.append(table)
    return paths
