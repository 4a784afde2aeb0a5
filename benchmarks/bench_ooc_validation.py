"""B8: `lowprec validate` out of core, on a sweep larger than the memory its data would take.

Runs `lowprec validate SWEEP_DIR` (the command line, as a user would) in a child process and
measures, from /proc while it runs and from wait4 when it ends:
- peak RSS of the process tree (the validator runs its blocks on dask threads: one process;
  VmHWM of the child, and the largest sum of RSS over the child and its descendants polled
  every 0.2 s, in case a scheduler starts processes),
- wall time,
- bytes read: rchar of /proc/<pid>/io (bytes the process read by system calls, whether the page
  cache held them or not: what "each file read once" is about) and read_bytes (bytes fetched
  from storage; lower when the page cache held part of the files),
and compares them with the run files' size on disk, and the memory the sweep would take as
float64 in open_sweep's layout (what an in-memory validation would hold).

The page cache cannot be dropped here without disturbing everyone on the machine: the
statement "each file read about once" rests on rchar, which counts cached reads too.

    .venv/bin/python benchmarks/make_synthetic_sweep.py DIR --years 10     # the sweep (B8)
    .venv/bin/python benchmarks/bench_ooc_validation.py DIR [--memory 4GiB]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

from lowprec.harness.cli_sweep import parse_bytes

def proc_io(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss(pid: int) -> int:
    try:
        p = psutil.Process(pid)
        return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
    except psutil.Error:
        return 0


def sweep_sizes(sweep_dir: Path) -> dict[str, float]:
    """Bytes on disk of the run files, and of the sweep's values as float64 in open_sweep's layout."""
    import xarray as xr

    from lowprec.harness.sweep import open_sweep
    files = sorted((sweep_dir / "runs").glob("*.nc"))
    on_disk = sum(f.stat().st_size for f in files if not f.name.endswith(".restart.nc"))
    ds = open_sweep(sweep_dir)
    in_memory = sum(v.size * 8 for v in ds.data_vars.values() if v.dtype.kind == "f")
    n_times = ds.sizes["time"]
    runs = int((ds["status"] == "complete").sum())
    ds.close()
    with xr.open_dataset(files[0]) as one:
        grid = [one.sizes[d] for d in one.dims if not str(d).startswith("time") and d in ("lat", "lon")]
    return {"files": len([f for f in files if not f.name.endswith(".restart.nc")]), "runs": runs,
            "times": n_times, "grid": grid, "on_disk": on_disk, "float64_layout": in_memory}


def measure(sweep_dir: Path, extra: list[str]) -> dict[str, float]:
    cmd = [str(Path(sys.executable).with_name("lowprec")), "validate", str(sweep_dir), *extra]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        child = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True)
        peak_tree = hwm = 0
        io: dict[str, int] = {}
        while True:
            done, status, usage = os.wait4(child.pid, os.WNOHANG)
            if done:
                break
            try:
                io = proc_io(child.pid)
                hwm = max(hwm, vm_hwm(child.pid))
            except (FileNotFoundError, ProcessLookupError):
                pass
            peak_tree = max(peak_tree, tree_rss(child.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
        status = os.waitstatus_to_exitcode(status)
    if status != 0:
        raise SystemExit(f"lowprec validate failed ({status}):\n{err}")
    return {"wall_s": wall, "peak_rss": max(hwm, usage.ru_maxrss * 1024), "peak_tree_rss": peak_tree,
            "rchar": io.get("rchar", 0), "read_bytes": io.get("read_bytes", 0),
            "cpu_s": usage.ru_utime + usage.ru_stime, "command": " ".join(cmd[1:]),
            "stderr": err.strip()[-2000:], "output": out.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path)
    ap.add_argument("--memory", default=None, help="the validator's memory budget, e.g. 4GiB "
                                                   "(default: lowprec validate's)")
    ap.add_argument("--windows", type=int, default=None, help="W(t) windows (default: validate's)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ooc_validation.json"))
    args = ap.parse_args()
    memory = parse_bytes(args.memory) if args.memory else None
    extra = ["--memory", str(memory)] if memory is not None else []
    if args.windows is not None:
        extra += ["--windows", str(args.windows)]

    sizes = sweep_sizes(args.sweep)
    load = os.getloadavg()[0]
    m = measure(args.sweep, extra)
    total = psutil.virtual_memory().total
    gb = 1e9
    lines = [
        f"B8: lowprec validate out of core ({date.today()}, load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end)",
        f"sweep: {sizes['runs']} runs ({sizes['files']} files), {sizes['times']} times each, grid "
        f"{' x '.join(map(str, sizes['grid']))}",
        f"  run files on disk                  {sizes['on_disk'] / gb:8.2f} GB",
        f"  as float64 in open_sweep's layout  {sizes['float64_layout'] / gb:8.2f} GB"
        f"  (machine memory {total / gb:.1f} GB)",
        f"command: {m['command']}",
        f"  wall                               {m['wall_s']:8.1f} s  (CPU {m['cpu_s']:.0f} s)",
        f"  peak RSS (VmHWM)                   {m['peak_rss'] / gb:8.2f} GB  "
        f"= {m['peak_rss'] / sizes['on_disk']:.3f} x on disk",
        f"  peak RSS of the process tree       {m['peak_tree_rss'] / gb:8.2f} GB  (polled)",
        f"  bytes read (rchar)                 {m['rchar'] / gb:8.2f} GB  "
        f"= {m['rchar'] / sizes['on_disk']:.3f} x on disk",
        f"  bytes from storage (read_bytes)    {m['read_bytes'] / gb:8.2f} GB  "
        f"= {m['read_bytes'] / sizes['on_disk']:.3f} x on disk",
    ]
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"date": str(date.today()), "load_start": load,
                                          "sizes": sizes, "measured": m,
                                          "machine_memory": total}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
