"""The harness at scale: memory against a run's length (B7), the cost of being stopped and
resumed, and how fast a run stops on Ctrl-C. Everything through `lowprec run`, in child processes.

    python benchmarks/bench_harness.py [--years 1 10] [--heat-years 50] [--repeats 3]
                                       [--stops 5] [--quick]

B7: peak resident memory (the child's ru_maxrss) of a 100 x 50 shallow-water run in float64
writing u, v, eta every 6 hours (and the daily energies), for 1 and 10 simulated years; target
10 y / 1 y <= 1.1 (specs/performance.md).

Resume: wall time of a 50-year heat run at 10 sbits (daily output) stopped halfway and then
continued with --resume, against the same run uninterrupted (median of --repeats each, the two
interleaved); target within 10 %. Stopped two ways: SIGTERM (what is complete is saved on the
way out), and SIGKILL with run.checkpoint_interval = "1 year" (resumed from the last checkpoint,
so up to a year is computed twice).

Stop latency: SIGINT sent at random moments to the 1-year shallow-water run: seconds until the
process has exited (saving what was complete), median and largest of --stops.

Prints the tables and writes benchmarks/results/harness.json. Ratios of things timed in the same
session; nothing here is asserted. --quick shrinks every run (to check the script, not to quote).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import tomli_w

ROOT = Path(__file__).resolve().parents[1]
LOWPREC = [str(Path(sys.executable).parent / "lowprec")]     # the console script


def shallow_water(years: float) -> dict:
    return {"model": "shallow_water", "params": {"nx": 100, "ny": 50},
            "precision": {"sbits": 52},
            "run": {"length": f"{years:g} years", "output_interval": "6 hours"}}


def heat(years: float, checkpoint: str | None = None) -> dict:
    run = {"length": f"{years:g} years", "output_interval": "1 day"}
    if checkpoint:
        run["checkpoint_interval"] = checkpoint
    return {"model": "heat", "precision": {"sbits": 10, "mode": "nearest"}, "run": run}


def write(tmp: Path, name: str, cfg: dict) -> Path:
    path = tmp / f"experiment_{name}.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def child(args: list[str], *, stop_after: float | None = None,
          signum: int = signal.SIGTERM) -> dict:
    """Run `lowprec ARGS` in a child process; its wall time, peak RSS and exit status.

    stop_after: send ``signum`` after that many seconds (the wall time then ends at its exit).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(LOWPREC + [str(a) for a in args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    sent = None
    if stop_after is not None:
        try:
            proc.wait(timeout=stop_after)
        except subprocess.TimeoutExpired:
            sent = time.perf_counter()
            proc.send_signal(signum)
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.perf_counter()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return {"seconds": end - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss": usage.ru_maxrss * 1024,
            "status": proc.returncode, "stderr": err[-400:],
            "stop_latency": None if sent is None else end - sent}


def bench_memory(tmp: Path, years: list[float]) -> list[dict]:
    rows = []
    for y in years:
        exp = write(tmp, f"sw_{y:g}y", shallow_water(y))
        out = tmp / f"sw_{y:g}y.nc"
        r = child(["run", exp, "-o", out, "-q"])
        if r["status"] != 0:
            raise SystemExit(f"shallow water {y} years failed: {r['stderr']}")
        rows.append({"years": y, "peak_rss_mb": r["peak_rss"] / 1e6, "seconds": r["seconds"],
                     "file_mb": out.stat().st_size / 1e6})
        out.unlink()
    return rows


def bench_resume(tmp: Path, years: float, repeats: int) -> dict:
    cases = {"SIGTERM halfway": (heat(years), signal.SIGTERM),
             "SIGKILL halfway, checkpoint every year": (heat(years, "1 year"), signal.SIGKILL)}
    result = {}
    for label, (cfg, signum) in cases.items():
        exp = write(tmp, "heat_" + str(int(signum)), cfg)
        whole, stopped, outputs = [], [], []
        whole_cpu, stopped_cpu = [], []
        for _ in range(repeats):
            out = tmp / "whole.nc"
            r = child(["run", exp, "-o", out, "-q", "--overwrite"])
            whole.append(r["seconds"])
            whole_cpu.append(r["cpu_seconds"])
            out = tmp / "stopped.nc"
            first = child(["run", exp, "-o", out, "-q", "--overwrite"],
                          stop_after=0.5 * statistics.median(whole), signum=signum)
            if first["status"] == 0:
                raise SystemExit(f"{label}: the run finished before it was stopped")
            import netCDF4
            with netCDF4.Dataset(out) as nc:
                outputs.append(len(nc.dimensions["time"]))
            second = child(["run", exp, "-o", out, "-q", "--resume"])
            if second["status"] != 0:
                raise SystemExit(f"{label}: resume failed: {second['stderr']}")
            stopped.append(first["seconds"] + second["seconds"])
            stopped_cpu.append(first["cpu_seconds"] + second["cpu_seconds"])
        w, s = statistics.median(whole), statistics.median(stopped)
        wc, sc = statistics.median(whole_cpu), statistics.median(stopped_cpu)
        result[label] = {"uninterrupted_s": w, "stopped_and_resumed_s": s, "ratio": s / w,
                         "uninterrupted_cpu_s": wc, "stopped_and_resumed_cpu_s": sc,
                         "ratio_cpu": sc / wc, "walls": [whole, stopped],
                         "outputs_saved_when_stopped": outputs, "target": 1.10}
    return result


def bench_stops(tmp: Path, stops: int, years: float) -> dict:
    exp = write(tmp, "sw_stop", shallow_water(years))
    rng = np.random.default_rng(1)
    latencies, statuses = [], []
    for i in range(stops):
        out = tmp / "stop.nc"
        r = child(["run", exp, "-o", out, "-q", "--overwrite"],
                  stop_after=rng.uniform(5.0, 20.0), signum=signal.SIGINT)
        statuses.append(r["status"])
        if r["stop_latency"] is not None:
            latencies.append(r["stop_latency"])
    return {"median_s": statistics.median(latencies) if latencies else None,
            "max_s": max(latencies) if latencies else None, "samples": latencies,
            "exit_statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--heat-years", type=float, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stops", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "resume", "stops"])
    args = parser.parse_args()
    if args.quick:
        args.years, args.heat_years, args.repeats, args.stops = [0.05, 0.5], 5, 1, 2
    load = os.getloadavg()
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "python": platform.python_version(), "loadavg_at_start": load,
                     "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="bench_harness_") as d:
        tmp = Path(d)
        if "memory" not in args.skip:
            rows = bench_memory(tmp, args.years)
            results["B7"] = {"runs": rows, "ratio": rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"],
                             "target": 1.10}
            print("B7: peak RSS of `lowprec run`, shallow water 100 x 50 float64, 6-hourly output")
            print(f"{'years':>6} {'peak RSS MB':>12} {'wall s':>8} {'file MB':>8}")
            for r in rows:
                print(f"{r['years']:>6g} {r['peak_rss_mb']:>12.1f} {r['seconds']:>8.1f} "
                      f"{r['file_mb']:>8.1f}")
            print(f"ratio {rows[-1]['years']:g} y / {rows[0]['years']:g} y: "
                  f"{results['B7']['ratio']:.3f} (target <= 1.10)")
        if "resume" not in args.skip:
            results["resume"] = bench_resume(tmp, args.heat_years, args.repeats)
            print(f"\nResume: {args.heat_years:g}-year heat run, 10 sbits, daily output, "
                  f"median of {args.repeats}")
            print(f"{'case':<40} {'whole s':>8} {'stopped+resumed s':>18} {'ratio':>6} "
                  f"{'CPU ratio':>9}")
            for label, r in results["resume"].items():
                print(f"{label:<40} {r['uninterrupted_s']:>8.1f} "
                      f"{r['stopped_and_resumed_s']:>18.1f} {r['ratio']:>6.3f} "
                      f"{r['ratio_cpu']:>9.3f}")
        if "stops" not in args.skip:
            results["stops"] = bench_stops(tmp, args.stops, args.years[0])
            s = results["stops"]
            print(f"\nStop latency: SIGINT to exit, shallow water 100 x 50, {args.stops} stops: "
                  f"median {s['median_s']:.2f} s, largest {s['max_s']:.2f} s "
                  f"(exit statuses {s['exit_statuses']})")
    results["loadavg_at_end"] = os.getloadavg()
    print(f"\nload average at start {load[0]:.1f}, at end {results['loadavg_at_end'][0]:.1f} "
          f"({os.cpu_count()} CPUs)")
    if not args.quick:
        out = Path(__file__).parent / "results" / "harness.json"
        earlier = json.loads(out.read_text()) if out.exists() else {}
        for part in args.skip:              # keep the figures of parts not run this time
            key = {"memory": "B7"}.get(part, part)
            if key in earlier:
                results[key] = earlier[key]
        out.write_text(json.dumps(results, indent=1))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
