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


def _sbits_colours(sbits: Sequence[int]) -> dict[int, Any]:
    """One colour per sbits value (viridis, fewest bits darkest), shared by the figures."""
    low = sorted(set(sbits))
    return {s: plt.cm.viridis(k / max(1, len(low) - 1)) for k, s in enumerate(low)}


MODE_STYLE = {"nearest": "o-", "stochastic": "s--"}     # other modes: dotted


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
        sbits = [int(s) for s in results["sbits"].values if (int(s), mode) != (CONTROL_SBITS, CONTROL_MODE)]
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
    fig = _global_fig(results, var)
    path = outdir / f"global_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
    modes = _modes(results)
    settings = [(int(s), str(m)) for s in results["sbits"].values for m in modes
                if (int(s), str(m)) != (CONTROL_SBITS, CONTROL_MODE)
                and np.isfinite(series.sel(sbits=s, mode=m).values).any()]
    colours = _sbits_colours([s for s, _ in settings])
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes):
        if controls is not None:
            for n, k in enumerate(controls["control_member"].values):
                ax.plot(t, controls.sel(control_member=k).values, color="0.7", lw=0.8,
                        label="double precision: each control" if n == 0 else None)
        ax.plot(t, series.sel(sbits=CONTROL_SBITS, mode=CONTROL_MODE).values, "k-", lw=2,
                label="double precision: null (member mean)")
        for s, m in settings:
            if m == mode:
                ax.plot(t, series.sel(sbits=s, mode=m).values, color=colours[s], lw=1.2,
                        label=f"{s} sbits (member mean)")
        ax.set_title(f"{var}, {mode}")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel(f"global mean {var} [{series.attrs.get('units', '')}]")
    fig.tight_layout()
    path = outdir / f"timeseries_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


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
    fig.tight_layout()
    path = outdir / f"map_excess_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


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
    fig.tight_layout()
    path = outdir / f"wt_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


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
    fig.tight_layout()
    path = outdir / f"profile_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


def _fmt(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.4g}"


def _table(results: xr.Dataset, variables: list[str]) -> str:
    lines = ["# Validation: distances from the double-precision controls", "",
             f"Controls: members {results.attrs.get('lowprec_control_members')}; competitors "
             f"{results.attrs.get('lowprec_competitor_members')}; spin-up discarded: "
             f"{results.attrs.get('lowprec_spinup_discarded')}; pooled: "
             f"{results.attrs.get('lowprec_pooled_dims')}; weights: {results.attrs.get('lowprec_weights')}.",
             ""]
    for var in variables:
        units = results[f"w1_global_{var}"].attrs.get("units", "")
        lines += [f"## {var} [{units}]", "",
                  f"Null (double vs double): {_fmt(float(results[f'w1_global_null_{var}']))}", "",
                  "| sbits | mode | members | blown up | W global | excess | ratio | p (global) "
                  "| mean bias | FDR-significant points |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        null = float(results[f"w1_global_null_{var}"])
        for s in results["sbits"].values:
            for m in results["mode"].values:
                sel = {"sbits": s, "mode": m}
                w = float(results[f"w1_global_{var}"].sel(sel))
                n = int(results["n_members"].sel(sel))
                if n == 0:
                    continue
                blown = int(results["blown_up"].sel(sel).sum())
                p = float(results[f"pvalue_global_{var}"].sel(sel)) if f"pvalue_global_{var}" in results else np.nan
                frac = "–"
                if f"reject_fdr_{var}" in results and _space(results[f"reject_fdr_{var}"]):
                    frac = f"{float(results[f'reject_fdr_{var}'].sel(sel).mean()):.1%}"
                lines.append(f"| {s} | {m} | {n} | {blown} | {_fmt(w)} | {_fmt(w - null)} | "
                             f"{_fmt(w / null if null else np.nan)} | {_fmt(p)} | "
                             f"{_fmt(float(results[f'mean_bias_{var}'].sel(sel)))} | {frac} |")
        lines.append("")
    return "\n".join(lines)


def report(results: xr.Dataset, outdir: str | Path) -> list[Path]:
    """Write the figures and report.md for `results` (from validation.evaluate) into `outdir`.

    Per variable: global W and excess against sbits (nearest and stochastic side by side, the
    spread of the null pair distances as a band); maps of the excess with FDR-significant points
    (2 spatial dims); W(t) curves (if windows were computed); time series of the global mean per
    setting against the double-precision runs (where stagnation shows); the W profile (a
    "depth" dim). Times are plotted as time after spin-up (days or years for dates).
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
    table = outdir / "report.md"
    table.write_text(_table(results, variables) + "\n")
    paths.append(table)
    return paths
