"""A synthetic sweep in the layout of the paper's GCM experiment, for the out-of-core validator (B8).

The paper's design (Paxton et al. 2022; issue 10): a T31 grid (96 × 48 points), 6-hourly output
of precipitation and lowest-level temperature, 5 double-precision controls and a double null of
5 members, and 23, 12, 10, 8 sbits × nearest / stochastic rounding of 5 members each: 50 runs.
Ten simulated years (14 600 outputs) per run make 32 GB of values, about 21 GB of netCDF (zlib 1
+ shuffle; measured: a double run 93 MB per simulated year, a 10-sbit run 21 MB: its zero trailing
bits compress).

The runs are real: `lowprec.harness.sweep.sweep` runs them through the run harness, which writes
the files (the streamed writer, its chunking, float32 for sbits <= 23, CF attributes, provenance,
restarts, sweep.json), so `lowprec validate DIR` reads them as it reads any sweep. Only the model
is a stand-in, `synthetic_gcm` (registered here): at each 6-hour step it draws new random fields
(a gamma-distributed precipitation, a temperature with a meridional profile), entered through the
run's arithmetic like any initial field (so rounded to the run's format: low-precision runs store
float32 with their trailing bits zero, as real ones), from a generator seeded by (member seed,
step). The statistics are noise; the sizes, layout and reading costs are those of real runs.

    .venv/bin/python benchmarks/make_synthetic_sweep.py DIR [--years 10] [--workers 1]

`--years` sets the size (about 2.1 GB of files per simulated year with the defaults; the size of
the values is printed before starting; `--years 13` for about 27 GB). The harness writes every
row twice (its two-copy checkpoints) and compresses it: on the shared 2-vCPU machine, a 5-year
double run took about 5 minutes, a 10-sbit one about 1.
Rerunning resumes (finished runs are kept), as any sweep.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.base import FLOAT64, Output, register

SIX_HOURS = 21600.0
_GRID = ("time", "lat", "lon")


@register("synthetic_gcm")
class SyntheticGCMOutput:
    """Random 6-hourly fields of precipitation and lowest-level temperature on a Gaussian grid.

    precip_k = G_k · (1 + cos φ) / 2 mm per 6 h, G_k ~ Gamma(shape 0.6, scale 1.5) per point;
    T_lowest_k = 250 K + 45 K cos² φ + 4 K · N(0, 1) per point. Independent over steps k; seeded
    by (seed, k). Both enter through ``emu.asarray`` (rounded to the run's format).
    """

    name = "synthetic_gcm"
    COMPONENTS = ("physics",)
    OUTPUTS = (
        Output("precip", _GRID, "mm", "precipitation amount over the output interval",
               standard_name="lwe_thickness_of_precipitation_amount", cell_methods="time: sum"),
        Output("T_lowest", _GRID, "K", "air temperature at the lowest model level (sigma 0.95)",
               standard_name="air_temperature", cell_methods="time: point",
               units_metadata="temperature: on_scale"),
    )
    time_units = "s"

    @dataclass(frozen=True)
    class Params:
        nlat: int = 48      # Gaussian latitudes (T31: 48)
        nlon: int = 96      # longitudes (T31: 96)

    def __init__(self, params: "SyntheticGCMOutput.Params", emu: Any = FLOAT64) -> None:
        if params.nlat < 2 or params.nlon < 1:
            raise ValueError(f"synthetic_gcm: nlat={params.nlat}, nlon={params.nlon}: need "
                             "nlat >= 2 and nlon >= 1")
        self.params, self.emu = params, emu
        emu.declare_components(self.COMPONENTS)
        self.dt = SIX_HOURS
        x, w = np.polynomial.legendre.leggauss(params.nlat)
        self.lat = np.degrees(np.arcsin(x))
        self.lat_weights = w
        self.lon = np.arange(params.nlon) * 360.0 / params.nlon
        self._cos = np.cos(np.radians(self.lat))[:, None]

    def _fields(self, seed: int, k: int) -> dict[str, Any]:
        rng = np.random.default_rng([int(seed), int(k)])
        shape = (self.params.nlat, self.params.nlon)
        precip = rng.gamma(0.6, 1.5, shape) * (1 + self._cos) / 2
        temp = 250.0 + 45.0 * self._cos ** 2 + 4.0 * rng.standard_normal(shape)
        with self.emu.component("physics"):
            return {"precip": self.emu.asarray(precip), "T_lowest": self.emu.asarray(temp)}

    def initial_state(self, seed: int) -> dict[str, Any]:
        return {"seed": int(seed), "k": 0, **self._fields(seed, 0)}

    def step(self, state: dict[str, Any]) -> dict[str, Any]:
        k = state["k"] + 1
        return {"seed": state["seed"], "k": k, **self._fields(state["seed"], k)}

    def coords(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        return {"lat": (("lat",), self.lat, {"standard_name": "latitude", "long_name": "latitude",
                                            "units": "degrees_north", "axis": "Y"}),
                "lon": (("lon",), self.lon, {"standard_name": "longitude", "long_name": "longitude",
                                            "units": "degrees_east", "axis": "X"})}

    def diagnostics(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        return {name: self.emu.to_float64(state[name]) for name in ("precip", "T_lowest")}

    def state_arrays(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"seed_and_step": np.array([state["seed"], state["k"]], dtype=np.float64),
                **self.diagnostics(state)}

    def state_from_arrays(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        seed, k = (int(v) for v in arrays["seed_and_step"])
        return {"seed": seed, "k": k, **{n: self.emu.asarray(arrays[n]) for n in ("precip", "T_lowest")}}


def experiment(years: float, *, nlat: int = 48, nlon: int = 96, controls: int = 5,
               members: int = 5, sbits: tuple[int, ...] = (8, 10, 12, 23),
               modes: tuple[str, ...] = ("nearest", "stochastic"), days: int | None = None) -> dict:
    """The sweep's experiment (a dict as in a TOML file): ``days`` overrides ``years`` (365 d)."""
    length = days if days is not None else round(365 * years)
    return {"model": "synthetic_gcm", "params": {"nlat": nlat, "nlon": nlon},
            "precision": {"seed": 1994},
            "run": {"length": f"{length} days", "output_interval": "6 hours"},
            "sweep": {"sbits": list(sbits), "modes": list(modes), "controls": controls,
                      "members": members}}


def estimated_bytes(exp: dict) -> int:
    """Bytes of data the sweep's files hold, uncompressed (float64 double runs, float32 others)."""
    p, s = exp["params"], exp["sweep"]
    outputs = int(exp["run"]["length"].split()[0]) * 4
    values = outputs * p["nlat"] * p["nlon"] * len(SyntheticGCMOutput.OUTPUTS)
    double = s["controls"] + s["members"]
    low = len(s["sbits"]) * len(s["modes"]) * s["members"]
    return values * (8 * double + 4 * low)


def make(outdir: Path | str, exp: dict, *, workers: int = 1, quiet: bool = False) -> Path:
    """Run the synthetic sweep into ``outdir`` (resumes); the directory."""
    from lowprec.harness.sweep import sweep
    if workers <= 1:
        result = sweep(exp, outdir, scheduler="serial", quiet=quiet)
    else:       # worker processes import this file first, to know the model
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          preload=[str(Path(__file__).resolve())]) as cluster, Client(cluster) as client:
            result = sweep(exp, outdir, scheduler=client, quiet=quiet)
    if result.failed:
        raise SystemExit(f"{len(result.failed)} synthetic runs failed: see {Path(outdir) / 'sweep.json'}")
    return Path(outdir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path, help="sweep directory to write")
    ap.add_argument("--years", type=float, default=10.0, help="simulated years per run (365-day)")
    ap.add_argument("--days", type=int, default=None, help="run length in days (instead of --years)")
    ap.add_argument("--nlat", type=int, default=48)
    ap.add_argument("--nlon", type=int, default=96)
    ap.add_argument("--controls", type=int, default=5)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--sbits", default="8,10,12,23", help="comma-separated sbits")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (1: this process)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    exp = experiment(args.years, nlat=args.nlat, nlon=args.nlon, controls=args.controls,
                     members=args.members, sbits=tuple(int(s) for s in args.sbits.split(",")),
                     days=args.days)
    size = estimated_bytes(exp)
    print(f"synthetic sweep: {exp['run']['length']} per run, {size / 1e9:.1f} GB of values "
          f"before compression (zlib 1 + shuffle), into {args.output}", file=sys.stderr, flush=True)
    make(args.output, exp, workers=args.workers, quiet=args.quiet)
    print(str(args.output))


if __name__ == "__main__":
    main()
