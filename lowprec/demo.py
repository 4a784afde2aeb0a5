"""`python -m lowprec.demo` (`make demo`): lowprec end to end in a few minutes.

1. A value rounded to several significand widths, round-to-nearest and stochastic.
2. Small Lorenz-63 and heat-column sweeps (sbits 6..23, both modes, 5 control and 5 competitor
   members) on a LocalCluster of 2 worker processes, into ./demo-output/<model>/.
3. Each sweep validated against its double-precision null; report figures and report.md
   written, and the verdict printed: per variable and mode, the fewest sbits indistinguishable
   from double precision.

The design can say "significant": 5 competitor and 5 null members give an exact permutation
test whose smallest p-value is 1/C(10, 5) = 1/252, well below alpha = 0.05 (3 and 3 would give
1/20 = alpha: nothing could ever be shown).

Rerunning resumes: finished runs are not recomputed. Output paths are printed at the end.
"""
from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

EXPERIMENTS = Path(__file__).parent / "experiments"
DEMO_SBITS = [6, 8, 10, 12, 16, 23]
DEMO_MODES = ["nearest", "stochastic"]
DEMO_CONTROLS = 5
DEMO_MEMBERS = 5            # p-value floor 1/C(10, 5) = 1/252


def rounding_table(x: float = 280.1, sbits: tuple[int, ...] = (6, 8, 10, 12, 16, 23, 52),
                   draws: int = 10_000, seed: int = 2022) -> str:
    """x rounded to each sbits: nearest, one stochastic draw, and the mean of many draws."""
    import lowprec
    rows = [f"x = {x!r} (float64) rounded to s explicit significand bits, float64 exponent range",
            f"{'sbits':>5}  {'spacing':>10}  {'nearest':>20}  {'stochastic, 1 draw':>20}  "
            f"{f'stochastic, mean of {draws}':>26}"]
    for s in sbits:
        fmt = lowprec.Format(sbits=s)
        nearest = lowprec.round(x, fmt, mode="nearest")
        one = lowprec.round(x, fmt, mode="stochastic", seed=seed)
        many = lowprec.round(np.full(draws, x), fmt, mode="stochastic", seed=seed)
        spacing = 2.0 ** (np.floor(np.log2(abs(x))) - s)
        rows.append(f"{s:>5}  {spacing:>10.3g}  {float(nearest)!r:>20}  {float(one)!r:>20}  "
                    f"{float(np.mean(many)):>26.12g}")
    rows.append("round-to-nearest moves x by up to half a spacing; stochastic rounding is exact "
                "on average (its mean of many draws returns to x).")
    return "\n".join(rows)


def demo_config(name: str, **sizes: Any) -> dict:
    """The packaged experiment `name`_sweep.toml, made demo-small, as a dict."""
    config = tomllib.loads((EXPERIMENTS / f"{name}_sweep.toml").read_text())
    config["sweep"].update(sbits=DEMO_SBITS, modes=DEMO_MODES, controls=DEMO_CONTROLS,
                           members=DEMO_MEMBERS)
    for section, values in sizes.items():
        config.setdefault(section, {}).update(values)
    return config


def demo_configs() -> dict[str, dict]:
    """Small settings: each run takes a second or two, each sweep (5 + 5 + 60 runs) a minute or two."""
    return {
        "lorenz63": demo_config("lorenz63", params={"particles": 200},
                                run={"length": "20 time units", "spinup": "10 time units",
                                     "output_interval": "0.1 time units"}),
        "heat": demo_config("heat", params={"depth": 20.0},
                            run={"length": "730 days", "spinup": "0 days",
                                 "output_interval": "5 days"}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowprec.demo",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["lorenz63", "heat"],
                        choices=["lorenz63", "heat"])
    args = parser.parse_args(argv)

    print(rounding_table(), end="\n\n", flush=True)

    from distributed import Client, LocalCluster

    import xarray as xr

    import validation
    from lowprec.errors import LowprecError
    from lowprec.harness.cli_sweep import REPORT_DIR, run_validation
    from lowprec.harness.sweep import sweep
    from validation.reporting import variables_in, verdict_section

    start = time.monotonic()
    written: dict[str, list[Path]] = {}
    verdicts: dict[str, list[str]] = {}
    failures = 0
    configs = demo_configs()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        for name in args.models:
            outdir = args.output / name
            print(f"== {name}: sweep into {outdir} on {args.workers} workers", flush=True)
            result = sweep(configs[name], outdir, scheduler=client)
            failures += len(result.failed)
            try:
                validation_path = run_validation(outdir)     # prints the design's p-value floor
                with xr.open_dataset(validation_path, decode_times=xr.coders.CFDatetimeCoder(
                        use_cftime=True)) as results:
                    results = results.load()
                written[name] = [validation_path, *validation.report(results, outdir / REPORT_DIR)]
                verdicts[name] = verdict_section(results, variables_in(results), definition=False)
            except LowprecError as e:
                print(f"{name}: validation refused: {e}", file=sys.stderr)
                failures += 1

    for name, lines in verdicts.items():     # the answer; report.md defines its words
        print(f"\n== {name}: verdict\n" + "\n".join(lines[2:]).rstrip())
    print(f"\ndemo finished in {time.monotonic() - start:.0f} s; written:")
    for name, paths in written.items():
        for p in paths:
            print(f"  {p}")
    if failures:
        print(f"{failures} failures (runs: see {args.output}/*/sweep.json)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
