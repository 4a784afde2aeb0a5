"""Figures (PNG, matplotlib Agg) and a markdown table from the Dataset validation.evaluate returns."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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


def _global_figure(results: xr.Dataset, var: str, outdir: Path) -> Path:
    units = results[f"w1_global_{var}"].attrs.get("units", "")
    modes = _modes(results)
    fig, axes = plt.subplots(2, len(modes), figsize=(4.5 * len(modes), 7), squeeze=False, sharex=True)
    sbits = results["sbits"].values
    null = float(results[f"w1_global_null_{var}"])
    pairs = results[f"w1_global_null_pairs_{var}"].values.ravel()
    for j, mode in enumerate(modes):
        for i, (key, null_level) in enumerate(((f"w1_global_{var}", null),
                                                (f"w1_global_excess_{var}", 0.0))):
            ax = axes[i, j]
            band = pairs - (null if i == 1 else 0.0)
            ax.axhspan(np.min(band), np.max(band), color="0.85", label="null pairs (min–max)")
            ax.axhline(null_level, color="0.4", lw=1, label="null mean")
            y = results[key].sel(mode=mode).values
            ax.plot(sbits, y, "o-", label=mode)
            members = results[f"w1_global_member_{var}"].sel(mode=mode)
            for k in members["member"].values:
                ax.plot(sbits, members.sel(member=k).values - (null if i == 1 else 0.0), ".",
                        color="C0", alpha=0.4)
            blown = results["blown_up"].sel(mode=mode).any("member").values
            for s, b in zip(sbits, blown):
                if b:
                    ax.axvline(s, color="C3", ls=":", lw=1)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{var}, {mode}")
            ax.set_ylabel(("global W" if i == 0 else "excess over null") + f" [{units}]")
            if i == 1:
                ax.set_xlabel("significand bits (sbits)")
            ax.legend(fontsize=7)
    fig.suptitle("dotted red: a member blew up (distance NaN)", fontsize=8)
    fig.tight_layout()
    path = outdir / f"global_{var}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
    t = results["window_end"].values if "window_end" in results.coords else results["window"].values
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, results[f"w1_global_t_null_{var}"].values, "k-", lw=2, label="null")
    for s, m in _settings(results, var):
        ax.plot(t, wt.sel(sbits=s, mode=m).values, "o-" if m == "nearest" else "s--",
                label=f"{s} sbits {m}")
    ax.set_xlabel("end of window [0, t]")
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
    for s, m in _settings(results, var):
        ax.plot(w.sel(sbits=s, mode=m).values, depth, "o-" if m == "nearest" else "s--",
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
    (2 spatial dims); W(t) curves (if windows were computed); the W profile (a "depth" dim).
    Returns the paths written, report.md last.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    variables = variables_in(results)
    paths: list[Path] = []
    for var in variables:
        paths.append(_global_figure(results, var, outdir))
        paths += _map_figures(results, var, outdir)
        paths += _convergence_figure(results, var, outdir)
        paths += _profile_figure(results, var, outdir)
    table = outdir / "report.md"
    table.write_text(_table(results, variables) + "\n")
    paths.append(table)
    return paths
