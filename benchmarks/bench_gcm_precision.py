"""The GCM precision experiment at the paper's size (lowprec/experiments/gcm_precision.toml with
its paper-sweep flags: T31L8, 5 + 5 members, 10-year runs): what one run needs in memory, what
the sweep needs on disk, and its cost in core-hours.

    python benchmarks/bench_gcm_precision.py [--days 10 60] [--mode stochastic] [--quick]

Memory: peak resident memory (the child's ru_maxrss) of `lowprec run` on the experiment at T31,
10 sbits, for each of --days, from rest, checkpointing every 10 simulated days so that the longer
run really streams its output to disk in several appends. Output is streamed (a run holds at most
store.WRITE_BYTES of rows), so the peaks of a short and a 6x longer run estimate a 10-year member's
peak without running it for 10 years; their ratio says how flat it is (BENCHMARKS.md: +10 % from
10 to 60 days, a step once the run has appended at a checkpoint, then +2 % from 60 to 180 days).

Disk: the output file's growth per simulated day between the two runs, times 365, is the size of
a simulated year of output (zlib-compressed as written); the paper's sweep is 50 runs x 10 years
of it, plus a restart file per run and per spin-up restart.

Core-hours: from a measured B3 (written by bench_gcm.py: T31L8 simulated years per hour on one
core, float64 and 10-sbit stochastic) and B2's nearest ÷ float64 step ratio, for the spin-up (one
serial job), the 10 double runs, the 20 nearest and 20 stochastic runs. --b3 names the JSON
(default: results/gcm_moist.json for the experiment's physics = "moist" when it exists, else the
dry core's results/gcm.json, scaled for the moist model by the moist ÷ dry CPU time per step,
measured here at T31 from interleaved blocks). Prints the table and writes
benchmarks/results/gcm_precision.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "lowprec" / "experiments" / "gcm_precision.toml"
LOWPREC = [str(Path(sys.executable).parent / "lowprec")]
RESULTS = Path(__file__).parent / "results"
PAPER = {"truncation": 31, "years": 10, "controls": 5, "members": 5,
         "spinup_days": 200 + 9 * 3650}   # restarts 10 years apart from day 200


def paper_sets() -> list[str]:
    """The --set flags of the file's documented ``paper-sweep:`` line."""
    import shlex
    line = next(x.split("paper-sweep:", 1)[1] for x in CONFIG.read_text().splitlines()
                if "paper-sweep:" in x)
    words = shlex.split(line)
    return [v for f, v in zip(words[::2], words[1::2]) if f == "--set"]


def measure_run(tmp: Path, days: int, mode: str) -> dict:
    """Peak RSS, CPU and output size of one T31 run of ``days`` at 10 sbits ``mode``."""
    out = tmp / f"gcm_{days}d.nc"
    args = ["run", CONFIG, "-o", out, "-q", "--sbits", "10", "--mode", mode]
    for s in paper_sets():
        if not s.startswith(("run.length", "sweep.")):
            args += ["--set", s]
    args += ["--set", f"run.length=\"{days} days\"", "--set", "run.spinup=\"0 days\"",
             "--set", "run.checkpoint_interval=\"10 days\""]
    start = time.perf_counter()
    proc = subprocess.Popen(LOWPREC + [str(a) for a in args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"lowprec run ({days} days) failed: {err[-600:]}")
    restart = out.with_name(out.name.replace(".nc", ".restart.nc"))
    row = {"days": days, "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,
           "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.perf_counter() - start,
           "file_bytes": out.stat().st_size,
           "restart_bytes": restart.stat().st_size if restart.exists() else 0}
    for f in tmp.glob("gcm_*"):
        f.unlink()
    return row


def core_hours(gcm: dict, moist_over_dry: dict | None = None) -> dict:
    """The paper-size sweep's cost on one core per run, from B3 (and B2 for nearest).

    moist_over_dry: {"float64": r, "stochastic": r}, CPU time per step of the moist ÷ the dry
    model, to scale a dry B3 (nearest is scaled by the stochastic ratio: the physics' rounding
    costs alike in both modes, so this errs towards more core-hours).
    """
    b3 = {r["arithmetic"]: r["years_per_hour_cpu"] for r in gcm["b3"]}
    nearest_ratio = next(r["ratio"] for r in gcm["b2"] if r["mode"] == "nearest")
    rate = {"float64": b3["float64"], "nearest": b3["float64"] / nearest_ratio,
            "stochastic": b3["stochastic"]}
    if moist_over_dry:
        rate = {k: v / moist_over_dry["float64" if k == "float64" else "stochastic"]
                for k, v in rate.items()}
    n_settings = 4                                  # sbits 8, 10, 12, 23, per mode
    runs = {"float64": PAPER["controls"] + PAPER["members"],
            "nearest": n_settings * PAPER["members"], "stochastic": n_settings * PAPER["members"]}
    hours = {k: runs[k] * PAPER["years"] / rate[k] for k in runs}
    hours["spinup"] = PAPER["spinup_days"] / 365 / rate["float64"]
    return {"years_per_hour": rate, "runs": runs, "hours": hours,
            "total": sum(hours.values()), "b3_date": gcm.get("date")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, nargs=2, default=[10, 60])
    parser.add_argument("--mode", default="stochastic", choices=["nearest", "stochastic"])
    parser.add_argument("--quick", action="store_true", help="2 and 4 days (checks the script)")
    parser.add_argument("--b3", type=Path, default=None, help="bench_gcm.py's JSON with B2 and B3")
    parser.add_argument("--reuse-runs", action="store_true",
                        help="take the runs' memory and file sizes from results/gcm_precision.json "
                             "and recompute the rest (e.g. the core-hours from a new B3)")
    args = parser.parse_args()
    if args.quick:
        args.days = [2, 4]
    load = os.getloadavg()
    if args.reuse_runs:             # the memory and file figures of the last full run
        earlier = json.loads((RESULTS / "gcm_precision.json").read_text())
        rows, args.mode = earlier["runs"], earlier["mode"]
    else:
        with tempfile.TemporaryDirectory(prefix="bench_gcm_precision_") as d:
            rows = [measure_run(Path(d), days, args.mode) for days in args.days]
    short, long_ = rows
    per_day = (long_["file_bytes"] - short["file_bytes"]) / (long_["days"] - short["days"])
    per_year = per_day * 365
    n_runs = PAPER["controls"] + PAPER["members"] + 8 * PAPER["members"]
    restarts = n_runs + PAPER["controls"] + PAPER["members"]     # one per run + the spin-up's
    disk = n_runs * PAPER["years"] * per_year + restarts * long_["restart_bytes"]
    b3_file = args.b3 or default_b3()
    b3 = json.loads(b3_file.read_text())
    scale, ratios = None, None
    if b3.get("physics", "held_suarez") != physics():
        # a dry B3 for the moist experiment: scale it by the moist ÷ dry step time, measured
        # here from interleaved blocks of one process (the ratio carries across loads)
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_gcm import moist_over_dry
        ratios = moist_over_dry(PAPER["truncation"], 10, 5)
        scale = {r["arithmetic"]: r["ratio"] for r in ratios}
    cost = core_hours(b3, scale)
    cost["b3_file"] = str(b3_file)
    cost["moist_over_dry"] = ratios
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "python": platform.python_version(), "loadavg_at_start": load,
               "command": " ".join(sys.argv), "mode": args.mode, "runs": rows,
               "peak_ratio": long_["peak_rss_mb"] / short["peak_rss_mb"],
               "bytes_per_simulated_year": per_year, "paper_runs": n_runs,
               "paper_disk_gb": disk / 1e9, "core_hours": cost,
               "variables": load_variables()}
    print(f"T31L8, 10 sbits {args.mode}, variables {results['variables']}, checkpoint every 10 days")
    print(f"{'days':>5} {'peak RSS MB':>12} {'CPU s':>7} {'file MB':>8}")
    for r in rows:
        print(f"{r['days']:>5} {r['peak_rss_mb']:>12.1f} {r['cpu_s']:>7.1f} "
              f"{r['file_bytes'] / 1e6:>8.2f}")
    print(f"peak {long_['days']} d / {short['days']} d: {results['peak_ratio']:.3f}")
    print(f"output per simulated year: {per_year / 1e6:.1f} MB; restart {long_['restart_bytes'] / 1e6:.2f} MB")
    print(f"paper sweep: {n_runs} runs x {PAPER['years']} years: {disk / 1e9:.1f} GB on disk")
    print(f"core-hours from B3 ({b3_file.name} of {cost['b3_date']}, physics "
          f"{b3.get('physics', 'held_suarez')})" + ("" if not scale else
          f" x moist/dry step time measured now (float64 {scale['float64']:.2f}, "
          f"stochastic {scale['stochastic']:.2f})") + ":")
    for k, h in cost["hours"].items():
        rate = cost["years_per_hour"].get(k, cost["years_per_hour"]["float64"])
        print(f"  {k:<11} {cost['runs'].get(k, 1):>3} runs at {rate:5.1f} yr/h: {h:6.1f} h")
    print(f"  total {cost['total']:.1f} core-hours")
    results["loadavg_at_end"] = os.getloadavg()
    print(f"load average at start {load[0]:.1f}, at end {results['loadavg_at_end'][0]:.1f}")
    if not args.quick:
        (RESULTS / "gcm_precision.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {RESULTS / 'gcm_precision.json'}")


def load_variables() -> list[str]:
    import tomllib
    return tomllib.loads(CONFIG.read_text())["run"]["variables"]


def physics() -> str:
    import tomllib
    return tomllib.loads(CONFIG.read_text())["params"]["physics"]


def default_b3() -> Path:
    """The B3 of the experiment's physics when measured, else the dry core's."""
    moist = RESULTS / "gcm_moist.json"
    return moist if physics() == "moist" and moist.exists() else RESULTS / "gcm.json"


if __name__ == "__main__":
    main()
