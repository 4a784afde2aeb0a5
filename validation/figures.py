"""The report's figures (PNG, matplotlib Agg), one message each, from validation.evaluate's results.

Each function draws one figure for one variable and returns it (or None when it does not apply),
with a one-line caption saying what to look for (`Figure`). Conventions shared by all:

- titles from the variable's long_name (its first clause) and units, never a raw name alone;
- the aggregate is named for what it is: "global mean" only with latitude weights, "domain
  mean" over a plane, "mean over depth" down a column, "pooled" for Lorenz-63's trajectories;
- colour = sbits (one discrete colour bar), line style = rounding mode; double precision in
  black (the null) and grey (the controls); legends below the axes and colour bars beside them, outside the data;
- maps in km (for coordinates in m) with equal aspect, one panel per sbits (rows) and mode
  (columns), one colour scale and colour bar for all panels;
- a log scale where the values span more than a factor LOG_SPAN.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.lines  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from validation.ensemble import CONTROL_MODE, CONTROL_SBITS, MODEL_TIME  # noqa: E402
from validation.verdict import was_run  # noqa: E402

__all__ = ["Figure", "FIGURES", "global_figure", "map_excess_figure", "map_time_mean_figure",
           "convergence_figure", "timeseries_figure", "profile_figure", "final_profile_figure"]

_SETTING_DIMS = ("sbits", "mode", "member", "control_member", "window")
LINE_STYLE = {"nearest": "-", "stochastic": "--"}          # other modes: dotted
MODE_MARKER = {"nearest": "o", "stochastic": "s"}          # other modes: triangles
MODE_COLOUR = {"nearest": "C0", "stochastic": "C1"}        # global figure: x is already sbits
LOG_SPAN = 20.0             # a log axis when the largest positive value is this many times the smallest


@dataclass(frozen=True)
class Figure:
    """A drawn figure, its file name, and the caption report.md gives it."""
    figure: plt.Figure
    name: str
    caption: str


# --- words for the variable and its aggregate

def space_dims(da: xr.DataArray) -> list[str]:
    return [str(d) for d in da.dims if d not in _SETTING_DIMS]


def short_name(results: xr.Dataset, var: str) -> str:
    """The variable's long_name up to its first comma (e.g. "Lorenz-63 x"), else its name."""
    long_name = str(results[f"w1_global_{var}"].attrs.get("lowprec_variable_long_name", var))
    return long_name.split(",")[0].strip() or var


def units_text(units: str) -> str:
    """" [K]", or " (dimensionless)" for units "1"."""
    return " (dimensionless)" if str(units) in ("1", "") else f" [{units}]"


def statistic(results: xr.Dataset) -> str:
    return {"w2": "W2"}.get(str(results.attrs.get("lowprec_statistic", "w1")), "W1")


def pooled_dims(results: xr.Dataset) -> list[str]:
    return [d for d in str(results.attrs.get("lowprec_pooled_dims", "time")).split(", ")
            if d and d != "time"]


def aggregate(results: xr.Dataset, var: str) -> str:
    """How a distance over points becomes one number: "global mean" (cos-latitude weights),
    "domain mean" (a plane), "mean over depth" (a column), "<dims> and time pooled" (no
    space dims, samples pooled), "" (one series)."""
    space = space_dims(results[f"w1_{var}"])
    if str(results.attrs.get("lowprec_weights", "")).startswith("cos("):
        return "global mean"
    if len(space) >= 2:
        return "domain mean"
    if len(space) == 1:
        return f"mean over {space[0]}"
    pooled = pooled_dims(results)
    return f"{', '.join(pooled)} and time pooled" if pooled else ""


def series_mean(results: xr.Dataset, var: str) -> str:
    """What global_mean_t_<var> averages: the aggregate of the points and the pooled dims."""
    space = space_dims(results[f"w1_{var}"])
    pooled = pooled_dims(results)
    if space:
        return aggregate(results, var)
    return f"mean over {', '.join(pooled)}" if pooled else ""


def distance_label(results: xr.Dataset, var: str, what: str = "") -> str:
    units = results[f"w1_global_{var}"].attrs.get("units", "")
    agg = aggregate(results, var)
    return f"{what or statistic(results)}{', ' + agg if agg else ''}{units_text(units)}"


# --- shared pieces

def spans_decades(values: Any) -> bool:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return v.size >= 2 and v.max() / v.min() > LOG_SPAN


def on_log(values: Any, log: bool) -> np.ndarray:
    """values, with those a log axis cannot show (≤ 0) as NaN when `log`: gaps, not lines to
    the axis edge."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v > 0, v, np.nan) if log else v


def sbits_colours(sbits: Sequence[int]) -> dict[int, Any]:
    """One colour per sbits value (viridis, fewest bits darkest), shared by the figures."""
    low = sorted(set(int(s) for s in sbits))
    return {s: plt.cm.viridis(k / max(1, len(low) - 1)) for k, s in enumerate(low)}


def _sbits_colourbar(fig: plt.Figure, axes: Any, colours: dict[int, Any]) -> None:
    """A discrete colour bar for sbits, outside the axes."""
    sbits = sorted(colours)
    cmap = matplotlib.colors.ListedColormap([colours[s] for s in sbits])
    norm = matplotlib.colors.BoundaryNorm(np.arange(len(sbits) + 1) - 0.5, cmap.N)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, pad=0.02,
                       ticks=np.arange(len(sbits)), fraction=0.04, aspect=30)
    bar.ax.set_yticklabels([f"{s}" + (" (float64)" if s == CONTROL_SBITS else "") for s in sbits])
    bar.set_label("significand bits (sbits)")


def _mode_handles(modes: Sequence[str], colour: str = "0.3") -> list:
    return [matplotlib.lines.Line2D([], [], color=colour, ls=LINE_STYLE.get(m, ":"), label=m)
            for m in modes]


def _outside_legend(fig: plt.Figure, handles: list) -> None:
    """The legend below the axes (constrained layout makes room), never over the data."""
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=7,
               frameon=False)


def _suptitle(fig: plt.Figure, text: str) -> None:
    """The figure's title, wrapped to its width (long_names can be long)."""
    fig.suptitle(textwrap.fill(text, max(40, int(11 * fig.get_figwidth()))), fontsize=10)


def _sbits_axis(ax: plt.Axes, sbits: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sbits, [f"{s}\n(float64)" if s == CONTROL_SBITS else str(s) for s in sbits])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("significand bits (sbits)")


def _scored_settings(results: xr.Dataset, da: xr.DataArray) -> list[tuple[int, str]]:
    """(sbits, mode) other than the null where `da` has a finite value, by sbits."""
    return [(int(s), str(m)) for s in sorted(int(s) for s in results["sbits"].values)
            for m in results["mode"].values
            if (int(s), str(m)) != (CONTROL_SBITS, CONTROL_MODE)
            and np.isfinite(da.sel(sbits=s, mode=m).values).any()]


def _modes(results: xr.Dataset) -> list[str]:
    return [str(m) for m in results["mode"].values]


# --- the answer: distance against sbits

def global_figure(results: xr.Dataset, var: str) -> Figure:
    """Aggregate distance (left) and its excess over the null (right) against sbits; both modes
    on the same axes; the null as the band of its pair distances and the line of its mean;
    significant settings (p ≤ alpha) filled, the others open; each member a faint dot.

    Double precision is the null: never a point at sbits 52 (it would look like one more
    setting). Settings at sbits 52 with another mode (stochastic rounding of float64 results)
    are points, the tick labelled float64. Artists carry gids for tests: "w:<mode>",
    "excess:<mode>", "w-significant:<mode>", "w-open:<mode>", "null-band", "null-mean".
    """
    fig, (ax_w, ax_e) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
    drawn = [_mode_against_sbits(ax_w, ax_e, results, var, mode) for mode in _modes(results)]
    drawn = [d for d in drawn if d is not None]
    null = _null_band(ax_w, ax_e, results, var)
    ticks = sorted({s for d in drawn for s in d["sbits"]})
    for ax in (ax_w, ax_e):
        if ticks:
            _sbits_axis(ax, ticks)
    _log_where_decades(ax_w, ax_e, results, var, drawn)
    units = units_text(results[f"w1_global_{var}"].attrs.get("units", ""))
    agg = aggregate(results, var)
    ax_w.set_ylabel(f"{statistic(results)}{units}")
    ax_e.set_ylabel(f"excess {statistic(results)} over the null{units}")
    ax_w.set_title(f"distance from the double-precision controls{' (' + agg + ')' if agg else ''}", fontsize=9)
    ax_e.set_title("excess over the null", fontsize=9)
    _suptitle(fig, f"{short_name(results, var)}: how many bits before it differs from double precision?")
    alpha = float(results.attrs.get("lowprec_alpha", 0.05))
    key = lambda **kw: matplotlib.lines.Line2D([], [], **kw)
    handles = [d["handle"] for d in drawn] + [
        key(color="0.4", marker="o", ls="none", label=f"p ≤ {alpha:g}: significant"),
        key(color="0.4", marker="o", mfc="white", ls="none",
            label=f"p > {alpha:g}" if f"pvalue_global_{var}" in results else "no p-values"),
        key(color="0.4", marker=".", alpha=0.5, ls="none", label="one member"),
        matplotlib.patches.Patch(color="0.85", label="null: control × null pairs (min–max)"),
        key(color="0.2", lw=1, label="null: mean" + (" = 0 (identical runs)" if null == 0 else ""))]
    if any(d["blown"] for d in drawn):
        handles.append(key(color="0.4", ls=":", label="a member blew up"))
    _outside_legend(fig, handles)
    caption = (f"{statistic(results)}{' (' + agg + ')' if agg else ''} of each setting from the "
               "double-precision controls (left) and its excess over the null (right) against "
               "sbits, both modes on the same axes; grey band: the double-vs-double spread. Look "
               "for the sbits at which a mode leaves the band: filled markers are significant "
               f"(p ≤ {alpha:g}).")
    return Figure(fig, f"global_{var}.png", caption)


def _mode_against_sbits(ax_w: plt.Axes, ax_e: plt.Axes, results: xr.Dataset, var: str,
                        mode: str) -> dict | None:
    """One mode's settings on both axes: mean line, member dots, filled/open markers by
    significance, blow-ups as dotted verticals. Returns what was drawn (None: no setting run)."""
    sbits = [s for s in sorted(int(s) for s in results["sbits"].values)
             if (s, mode) != (CONTROL_SBITS, CONTROL_MODE) and was_run(results, s, mode)]
    if not sbits:
        return None
    colour, style, marker = MODE_COLOUR.get(mode, "C2"), LINE_STYLE.get(mode, ":"), MODE_MARKER.get(mode, "^")
    null = float(results[f"w1_global_null_{var}"])
    sel = {"mode": mode, "sbits": sbits}
    w = results[f"w1_global_{var}"].sel(sel).values
    members = results[f"w1_global_member_{var}"].sel(sel).transpose("sbits", "member").values
    pvalues = results.get(f"pvalue_global_{var}")
    alpha = float(results.attrs.get("lowprec_alpha", 0.05))
    significant = (np.asarray(pvalues.sel(sel).values) <= alpha if pvalues is not None
                   else np.zeros(len(sbits), bool))
    x = np.asarray(sbits)
    for ax, y, dots, key in ((ax_w, w, members, "w"), (ax_e, w - null, members - null, "excess")):
        ax.plot(x, y, ls=style, color=colour, lw=1.5, gid=f"{key}:{mode}")
        ax.plot(np.repeat(x, dots.shape[1]), dots.ravel(), ".", color=colour, alpha=0.35, ms=4)
        ax.plot(x[significant], y[significant], marker, color=colour, ms=7, ls="none",
                gid=f"{key}-significant:{mode}")
        ax.plot(x[~significant], y[~significant], marker, mfc="white", color=colour, ms=7,
                ls="none", gid=f"{key}-open:{mode}")
    blown = x[results["blown_up"].sel(sel).any("member").values]
    for s in blown:
        for ax in (ax_w, ax_e):
            ax.axvline(s, color=colour, ls=":", lw=1)
    return {"sbits": sbits, "w": [*w, *members.ravel()], "excess": [*(w - null), *(members - null).ravel()],
            "blown": bool(blown.size),
            "handle": matplotlib.lines.Line2D([], [], color=colour, ls=style, marker=marker,
                                              label=f"{mode}: mean over members")}


def _null_band(ax_w: plt.Axes, ax_e: plt.Axes, results: xr.Dataset, var: str) -> float:
    """The null's mean as a line and the spread of its pair distances as a band (on the
    excess axis: relative to the mean). Returns the null's mean."""
    null = float(results[f"w1_global_null_{var}"])
    pairs = np.asarray(results[f"w1_global_null_pairs_{var}"].values, dtype=np.float64).ravel()
    for ax, offset in ((ax_w, 0.0), (ax_e, null)):
        if pairs.size and np.ptp(pairs) > 0:
            ax.axhspan(pairs.min() - offset, pairs.max() - offset, color="0.85", zorder=0, gid="null-band")
        ax.axhline(null - offset, color="0.2", lw=1, zorder=1, gid="null-mean")
    return null


def _log_where_decades(ax_w: plt.Axes, ax_e: plt.Axes, results: xr.Dataset, var: str,
                       drawn: list[dict]) -> None:
    """A log distance axis, and a symmetric-log excess axis, when the distances span decades;
    the excess axis linear within the null's spread (or the smallest excess, for a null of 0)."""
    pairs = np.asarray(results[f"w1_global_null_pairs_{var}"].values, dtype=np.float64).ravel()
    null = float(results[f"w1_global_null_{var}"])
    if not spans_decades([null, *pairs, *(v for d in drawn for v in d["w"])]):
        return
    ax_w.set_yscale("log")
    excess = np.asarray([v for d in drawn for v in d["excess"]], dtype=np.float64)
    magnitudes = np.abs(excess[np.isfinite(excess) & (excess != 0)])
    spread = float(np.ptp(pairs)) if pairs.size else 0.0
    linthresh = spread or (float(magnitudes.min()) if magnitudes.size else 1.0)
    ax_e.set_yscale("symlog", linthresh=linthresh)
    if np.nanmin(excess, initial=0.0) >= 0:
        ax_e.set_ylim(bottom=-0.5 * linthresh)      # nothing below the null: no empty half


# --- where: maps, sbits × mode panels

def _plane(da: xr.DataArray) -> tuple[str, str, np.ndarray, np.ndarray, str]:
    """(y dim, x dim, y values, x values, axis unit): km for coordinates in metres."""
    y, x = space_dims(da)
    units = str(da[x].attrs.get("units", ""))
    xs, ys = np.asarray(da[x].values, np.float64), np.asarray(da[y].values, np.float64)
    if units == "m":
        return y, x, ys / 1e3, xs / 1e3, "km"
    return y, x, ys, xs, units


def _map_grid(results: xr.Dataset, fields: dict[tuple[int, str], xr.DataArray], colour_label: str,
              title: str, marks: dict[tuple[int, str], np.ndarray] | None = None) -> plt.Figure:
    """One panel per sbits (rows) × mode (columns) on one symmetric colour scale and bar."""
    sbits = sorted({s for s, _ in fields})
    modes = [m for m in _modes(results) if any(k[1] == m for k in fields)]
    any_field = next(iter(fields.values()))
    y, x, ys, xs, unit = _plane(any_field)
    aspect = (np.ptp(ys) or 1.0) / (np.ptp(xs) or 1.0)
    fig, axes = plt.subplots(len(sbits), len(modes), squeeze=False, sharex=True, sharey=True,
                             figsize=(1.0 + 3.6 * len(modes), 1.0 + (3.0 * aspect + 0.5) * len(sbits)),
                             layout="constrained")
    values = np.concatenate([np.ravel(f.values) for f in fields.values()])
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    mesh = None
    for i, s in enumerate(sbits):
        for j, m in enumerate(modes):
            ax = axes[i, j]
            field = fields.get((s, m))
            ax.set_aspect("equal")
            if field is None or not np.isfinite(field.values).any():
                ax.text(0.5, 0.5, "not run" if field is None else "no value (blown up or failed)",
                        ha="center", va="center", transform=ax.transAxes, fontsize=7)
                ax.set_title(f"{s} sbits, {m}", fontsize=8)
                continue
            mesh = ax.pcolormesh(xs, ys, field.transpose(y, x).values, cmap="RdBu_r",
                                 vmin=-(limit or 1.0), vmax=limit or 1.0, shading="auto",
                                 gid=f"map:{s}:{m}")
            text = f"{s} sbits, {m}"
            if marks is not None and (s, m) in marks:
                r = marks[(s, m)]
                yy, xx = np.meshgrid(ys, xs, indexing="ij")
                ax.plot(xx[r], yy[r], "k.", ms=1.2, gid=f"significant:{s}:{m}")
                text += f": {r.mean():.0%} of points significant"
            ax.set_title(text, fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel(f"{x} [{unit}]" if unit else x)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{y} [{unit}]" if unit else y)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, label=colour_label, shrink=min(1.0, 0.3 + 0.2 * len(sbits)))
    _suptitle(fig, title)
    return fig


def map_excess_figure(results: xr.Dataset, var: str) -> Figure | None:
    """Excess distance over the null at each point, FDR-significant points dotted (2-D models)."""
    excess = results[f"w1_excess_{var}"]
    if len(space_dims(excess)) != 2:
        return None
    settings = _scored_settings(results, results[f"w1_global_{var}"])
    if not settings:
        return None
    reject = results.get(f"reject_fdr_{var}")
    fields = {k: excess.sel(sbits=k[0], mode=k[1]) for k in settings}
    marks = None
    if reject is not None:
        y, x = space_dims(excess)
        marks = {k: reject.sel(sbits=k[0], mode=k[1]).transpose(y, x).values.astype(bool) for k in settings}
    units = excess.attrs.get("units", "")
    alpha = float(results.attrs.get("lowprec_alpha", 0.05))
    fig = _map_grid(results, fields, f"{statistic(results)} minus the null's{units_text(units)}",
                    f"{short_name(results, var)}: excess {statistic(results)} over the null at each point", marks)
    caption = (f"Excess {statistic(results)} over the null at each point, one panel per sbits (rows) "
               f"and mode (columns) on one colour scale; dots: points significant at FDR {alpha:g}. "
               "Look for where the differences concentrate, and how the significant area grows "
               "as bits are removed.")
    return Figure(fig, f"map_excess_{var}.png", caption)


def map_time_mean_figure(results: xr.Dataset, var: str) -> Figure | None:
    """Time-mean state of each setting minus that of the double-precision run from the same
    initial state (its paired null member), mean over members (2-D models).

    Pairing removes the initial-condition difference that subtracting the controls would leave
    in every panel (the sweep's members start from other states than its controls). Results
    without time_mean_minus_null_<var> (older files) fall back to the member-mean difference
    from the null members' time mean, which equals it when every member ran.
    """
    key = f"time_mean_{var}"
    if key not in results or len(space_dims(results[key])) != 2:
        return None
    paired = results.get(f"time_mean_minus_null_{var}")
    if paired is None:
        paired = results[key] - results[key].sel(sbits=CONTROL_SBITS, mode=CONTROL_MODE, drop=True)
    settings = _scored_settings(results, paired)
    if not settings:
        return None
    fields = {k: paired.sel(sbits=k[0], mode=k[1]) for k in settings}
    units = results[key].attrs.get("units", "")
    name = short_name(results, var)
    fig = _map_grid(results, fields, f"difference{units_text(units)}",
                    f"time-mean {name}: each run minus the double-precision run from the same "
                    "initial state, mean over members")
    caption = (f"Time-mean {name} of each setting minus that of the double-precision run started "
               "from the same initial state (its paired null member), mean over members; sbits × "
               "mode panels on one colour scale. The pairing cancels initial-condition "
               "differences: look for large-scale, systematic patterns (a precision effect), "
               "not small-scale noise.")
    return Figure(fig, f"map_time_mean_{var}.png", caption)


# --- convergence and drift

def elapsed(values: np.ndarray, start: object, units: str) -> tuple[np.ndarray, str]:
    """values − start as numbers and an axis label: days, or years beyond two years, for dates
    (numpy datetime64 or cftime, e.g. the 365_day calendar); model time in `units` otherwise."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        days = (values - np.datetime64(start)) / np.timedelta64(1, "D")
    elif values.dtype.kind == "O":                      # cftime dates: differences are timedeltas
        days = np.array([(t - start).total_seconds() / 86400.0 for t in values])
    else:
        if str(units) in ("1", ""):
            return values - start, "model time after spin-up (dimensionless)"
        return values - start, f"time after spin-up [{units}]"
    if np.nanmax(np.abs(days), initial=0.0) > 2 * 365:
        year = 365.0 if getattr(start, "calendar", "") in ("365_day", "noleap") else 365.25
        return days / year, "time after spin-up [years]"
    return days, "time after spin-up [days]"


def time_dim(da: xr.DataArray) -> str | None:
    """The time dimension of a results variable: time, time_1d ..., or model_time."""
    return next((str(d) for d in da.dims if str(d).startswith("time") or d == MODEL_TIME), None)


def start_time(results: xr.Dataset) -> xr.DataArray | None:
    """The first output time after spin-up (of the base time axis), if kept."""
    for name in ("time", MODEL_TIME):
        if name in results.coords and results.sizes.get(name):
            return results[name][0]
    return None


def convergence_figure(results: xr.Dataset, var: str) -> Figure | None:
    """W over growing windows [0, t]: one line per setting, the null in black."""
    key = f"w1_global_t_{var}"
    if key not in results or results.sizes.get("window", 0) == 0:
        return None
    wt = results[key]
    start = start_time(results)
    if "window_end" in results.coords and start is not None:
        t, label = elapsed(results["window_end"].values, start.values[()], start.attrs.get("units", ""))
        label = label.replace("model time after spin-up", "window length after spin-up, model time")
        label = label.replace("time after spin-up", "window length after spin-up")
    else:
        t, label = results["window"].values, "window length after spin-up [outputs]"
    settings = _scored_settings(results, wt)
    colours = sbits_colours([s for s, _ in settings])
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    null = results[f"w1_global_t_null_{var}"].values
    log = spans_decades(np.concatenate([null, np.ravel(wt.values)]))
    ax.plot(t, on_log(null, log), "k-", lw=2.5, gid="null")
    for s, m in settings:
        ax.plot(t, on_log(wt.sel(sbits=s, mode=m).values, log), ls=LINE_STYLE.get(m, ":"),
                marker=MODE_MARKER.get(m, "^"), color=colours[s], ms=3, lw=1.2, gid=f"wt:{s}:{m}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel(distance_label(results, var))
    _suptitle(fig, f"{short_name(results, var)}: {statistic(results)} over growing windows [0, t]")
    if colours:
        _sbits_colourbar(fig, ax, colours)
    modes = sorted({m for _, m in settings}, key=_modes(results).index)
    null_label = "null" if np.any(null != 0) else "null: 0 (identical runs)"
    _outside_legend(fig, [matplotlib.lines.Line2D([], [], color="k", lw=2.5, label=null_label)]
                    + _mode_handles(modes))
    caption = (f"{statistic(results)} over growing windows [0, t]: colour = sbits, line style = "
               "mode, black = the null. Distances fall as samples grow; look for curves that level "
               "off above the null (a different distribution) instead of falling with it.")
    return Figure(fig, f"wt_{var}.png", caption)


_MAX_POINTS = 500     # a series with more outputs than this is drawn as a running mean


def smoothing_window(results: xr.Dataset, n_time: int) -> int:
    """Outputs per running-mean window of the aggregate-mean series: 1 (raw) for short series of
    spatial means; about n/100 when sample dims (Lorenz-63's particles) are pooled (a mean over
    a few chaotic trajectories is noise at every output) or when there are over _MAX_POINTS."""
    if not pooled_dims(results) and n_time <= _MAX_POINTS:
        return 1
    return max(1, n_time // 100)


def running_mean(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of each `window` consecutive values (len(y) − window + 1 of them; NaN propagates)."""
    if window <= 1:
        return y
    return np.convolve(y, np.full(window, 1.0 / window), mode="valid")


def timeseries_figure(results: xr.Dataset, var: str) -> Figure | None:
    """The aggregate mean of the variable against time, one panel per mode: each setting
    (member mean), the controls in grey, the null in black (where stagnation and drift show)."""
    key = f"global_mean_t_{var}"
    if key not in results:
        return None
    series, controls = results[key], results.get(f"global_mean_t_control_{var}")
    tdim = time_dim(series)
    if tdim is None or results.sizes.get(tdim, 0) < 2:
        return None
    time = results[tdim]        # time, time_1d (a variable averaged over longer intervals), model_time
    start = start_time(results)
    origin = start.values[()] if start is not None else time.values[0]
    t, label = elapsed(time.values, origin, time.attrs.get("units", ""))
    window = smoothing_window(results, t.size)
    smooth = lambda y: running_mean(np.asarray(y, dtype=np.float64), window)
    t = smooth(t)
    settings = _scored_settings(results, series)
    modes = [m for m in _modes(results) if any(mm == m for _, mm in settings)] or [CONTROL_MODE]
    colours = sbits_colours([s for s, _ in settings])
    fig, axes = plt.subplots(1, len(modes), figsize=(1.5 + 4.6 * len(modes), 4), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, mode in zip(axes[0], modes):
        if controls is not None:
            for k in controls["control_member"].values:
                ax.plot(t, smooth(controls.sel(control_member=k).values), color="0.65", lw=0.8)
        ax.plot(t, smooth(series.sel(sbits=CONTROL_SBITS, mode=CONTROL_MODE).values), "k-", lw=2,
                gid="null")
        for s, m in settings:
            if m == mode:
                ax.plot(t, smooth(series.sel(sbits=s, mode=m).values), color=colours[s],
                        ls=LINE_STYLE.get(m, ":"), lw=1.2, gid=f"series:{s}:{m}")
        ax.set_title(mode + (f" (running mean over {window} outputs)" if window > 1 else ""), fontsize=9)
        ax.set_xlabel(label)
    mean = series_mean(results, var)
    units = series.attrs.get("units", "")
    name = short_name(results, var)
    what = f"{name}, {mean}" if mean else name
    axes[0, 0].set_ylabel(textwrap.fill(f"{what}{units_text(units)}", 40))
    _suptitle(fig, f"{what}, against time: member mean per setting")
    if colours:
        _sbits_colourbar(fig, axes[0, :].tolist(), colours)
    _outside_legend(fig, [matplotlib.lines.Line2D([], [], color="k", lw=2, label="double precision: null (member mean)"),
                          matplotlib.lines.Line2D([], [], color="0.65", lw=0.8, label="double precision: each control")])
    caption = (f"The {mean + ' of the ' if mean else ''}variable against time for each setting "
               "(colour = sbits, member mean), the double-precision controls in grey and the null "
               "in black. Look for drift or stagnation: a setting that stops following the controls.")
    return Figure(fig, f"timeseries_{var}.png", caption)


# --- a column model: where in the column

def _column_dim(da: xr.DataArray) -> str | None:
    space = space_dims(da)
    return space[0] if len(space) == 1 else None


def _downward(results: xr.Dataset, dim: str) -> bool:
    return dim == "depth" or results[dim].attrs.get("positive") == "down"


def _column_figure(results: xr.Dataset, per_setting: xr.DataArray, reference: np.ndarray,
                   reference_gid: str, reference_label: str, xlabel: str, title: str,
                   key: str, log: bool = False) -> plt.Figure:
    """Values against the column's one dim: a line per scored setting (colour = sbits, line
    style = mode), the double-precision reference in black, depth downward."""
    dim = _column_dim(per_setting)
    z = per_setting[dim].values
    settings = _scored_settings(results, per_setting)
    colours = sbits_colours([s for s, _ in settings])
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    ax.plot(on_log(reference, log), z, "k-", lw=2.5, gid=reference_gid)
    for s, m in settings:
        ax.plot(on_log(per_setting.sel(sbits=s, mode=m).values, log), z, ls=LINE_STYLE.get(m, ":"),
                color=colours[s], lw=1.3, gid=f"{key}:{s}:{m}")
    if log:
        ax.set_xscale("log")
    if _downward(results, dim):
        ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{dim}{units_text(per_setting[dim].attrs.get('units', ''))}")
    _suptitle(fig, title)
    if colours:
        _sbits_colourbar(fig, ax, colours)
    _outside_legend(fig, [matplotlib.lines.Line2D([], [], color="k", lw=2.5, label=reference_label)]
                    + _mode_handles(sorted({m for _, m in settings}, key=_modes(results).index)))
    return fig


def profile_figure(results: xr.Dataset, var: str) -> Figure | None:
    """The distance at each level of a column model (1 space dim), per setting and the null."""
    w = results[f"w1_{var}"]
    dim = _column_dim(w)
    if dim is None:
        return None
    null = results[f"w1_null_{var}"].values
    fig = _column_figure(
        results, w, null, "null",
        "null" if np.any(null != 0) else "null: 0 at every level (identical runs)",
        f"{statistic(results)}{units_text(w.attrs.get('units', ''))}",
        f"{short_name(results, var)}: distance from double precision at each {dim}",
        "profile", log=spans_decades(w.values))
    caption = (f"{statistic(results)} at each {dim}: colour = sbits, line style = mode, black = the "
               f"null. Look for the {dim}s where low precision departs most.")
    return Figure(fig, f"profile_{var}.png", caption)


def final_profile_figure(results: xr.Dataset, var: str) -> Figure | None:
    """The state at the last output of a column model, member mean per setting, against the
    controls' (stagnation at few bits shows as a profile that stopped moving)."""
    key = f"final_mean_{var}"
    if key not in results or _column_dim(results[key]) is None:
        return None
    final = results[key]
    when = str(final.attrs.get("lowprec_time", "")).removesuffix(" 00:00:00")
    name = short_name(results, var)
    fig = _column_figure(
        results, final, results[f"final_mean_control_{var}"].values, "controls",
        "double precision: controls (mean)", f"{name}{units_text(final.attrs.get('units', ''))}",
        f"{name} at the last output{' (' + when + ')' if when else ''}: member mean per setting",
        "final")
    caption = (f"{name} at the last output, member mean per setting (colour = sbits, line style = "
               "mode), the double-precision controls in black. Look for profiles that stopped "
               "short of the controls': stagnation.")
    return Figure(fig, f"final_profile_{var}.png", caption)


# In the order report.md lists them: the answer first.
FIGURES = (global_figure, map_excess_figure, map_time_mean_figure, timeseries_figure,
           convergence_figure, profile_figure, final_profile_figure)
