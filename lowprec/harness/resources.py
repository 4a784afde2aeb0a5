"""Before a run starts: will it fit in memory and on disk, and can its output be written there?

Estimates, checked before the model's state is allocated or anything is written:

- Memory. A model's state is about the size of one output of each of its fields (the output
  shapes come from the model's coordinates, ``model.coords()``), and a step needs at least
  :data:`STEP_MEMORY_FACTOR` times the state (the state, its tendency and the stages of a
  step: measured 8–11× for Lorenz-63's RK4 and 18–34× for shallow water, float64 and emulated).
  A run writing a file holds at most :data:`lowprec.harness.store.WRITE_BYTES` of output rows;
  a run returning its output in memory (no output file) holds all of it. A run whose lower-bound
  estimate exceeds the memory available is refused (ConfigError), so what is refused certainly
  does not fit.
- Disk. The output's size uncompressed (float32 where it is stored so, else float64). Refused
  when it exceeds :data:`COMPRESSION_ALLOWANCE` times the free space of the output's file
  system (no compression saves that much); a warning when it exceeds the free space itself (a
  full disk later stops the run cleanly, keeping what was written).
- The output location: its directory is created if missing; a path through a file, a
  directory at the output path, or a directory that cannot be written is refused.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

from lowprec.errors import ConfigError
from lowprec.harness.store import WRITE_BYTES

STEP_MEMORY_FACTOR = 4          # a step needs at least this many states (a lower bound)
COMPRESSION_ALLOWANCE = 10      # outputs larger than this many times the free space are refused


class DiskSpaceWarning(UserWarning):
    """A run that may not fit (on disk): it runs, and stops cleanly if the disk fills."""


def size_text(n: float) -> str:
    """Bytes for people: 512 B, 12.3 kB, 4.5 MB, 1.2 GB ... (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


@contextlib.contextmanager
def _address_space_at_most(extra: int) -> Iterator[None]:
    """While inside, allocations beyond ``extra`` more bytes fail at once (MemoryError).

    Only where it cannot surprise anyone else: the main thread of a process running no other
    thread (the command line), on a system with RLIMIT_AS and /proc; elsewhere, no limit.
    """
    try:
        import resource
        status = Path("/proc/self/status").read_text()
        size = int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmSize:"))) * 1024
    except (ImportError, OSError, StopIteration, ValueError):
        yield
        return
    if threading.active_count() != 1:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def output_shapes(model: Any, names: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Shape of one output of each variable ``names``, from the model's coordinates.

    A dimension without a coordinate counts as 1 (a lower bound, as everything here). The
    coordinates are built with at most a STEP_MEMORY_FACTOR-th of the available memory (on the
    command line): a model whose coordinates need more cannot run, and MemoryError says so at
    once instead of after filling the memory.
    """
    sizes = {}
    with _address_space_at_most(available_memory() // STEP_MEMORY_FACTOR):
        coords = model.coords()
    for dims, values, _ in coords.values():
        shape = getattr(values, "shape", ())
        for d, n in zip(dims, shape):
            sizes[d] = int(n)
    outputs = {o.name: o for o in model.OUTPUTS}
    return {name: tuple(sizes.get(d, 1) for d in outputs[name].dims if d != "time")
            for name in names}


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:                       # noqa: BLE001 - no psutil: do not refuse
        return 2**62


def check_memory(state_bytes: int, output_bytes: int, what: str) -> None:
    """Refuse a run whose lower-bound memory need exceeds the memory available."""
    need = STEP_MEMORY_FACTOR * state_bytes + output_bytes
    have = available_memory()
    if need > have:
        held = (f" and {size_text(output_bytes)} of output held in memory" if output_bytes
                else "")
        raise ConfigError(f"{what}: needs at least {size_text(need)} of memory (a state of "
                          f"{size_text(state_bytes)}, x{STEP_MEMORY_FACTOR} for a step's "
                          f"temporaries{held}); {size_text(have)} is available. Make the model "
                          "smaller" + (", or write the output to a file (it is then streamed to "
                          "disk)" if output_bytes > WRITE_BYTES else "") + ".")


def check_disk(directory: Path, output_bytes: float, what: str) -> None:
    """Refuse an output that cannot fit on ``directory``'s file system; warn if it may not."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if output_bytes > COMPRESSION_ALLOWANCE * free:
        raise ConfigError(f"{what}: the output would take about {size_text(output_bytes)} "
                          f"uncompressed, and {directory} has {size_text(free)} free (no "
                          "compression saves that much). Shorten run.length, write fewer "
                          "variables (run.variables) or a longer output interval.")
    if output_bytes > free:
        warnings.warn(f"{what}: the output may take up to {size_text(output_bytes)} "
                      f"uncompressed and {directory} has {size_text(free)} free; if the disk "
                      "fills, the run stops and keeps what it wrote.", DiskSpaceWarning,
                      stacklevel=3)


def prepare_output_directory(output: Path) -> None:
    """Check (and create) the directory of ``output`` before a run starts (ConfigError if not)."""
    output = Path(output)
    if output.is_dir():
        raise ConfigError(f"output {str(output)!r} is a directory; give a file path, e.g. "
                          f"{str(output / 'run.nc')!r}.")
    directory = output.parent
    for parent in [directory, *directory.parents]:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"output {str(output)!r}: {str(parent)!r} is a file, not a "
                              "directory; choose another output path.")
        if parent.exists():
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".lowprec-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno in (30, 13, 1):          # EROFS, EACCES, EPERM
            reason = f"{reason}: it is read-only for this user"
        raise ConfigError(f"output {str(output)!r}: cannot write in {str(directory)!r} "
                          f"({reason}); choose a directory you can write to.") from None


def run_output_bytes(n_rows: dict[str, int], shapes: dict[str, tuple[int, ...]],
                     itemsize: int) -> float:
    """Bytes of a run's output: rows of each variable times its shape times ``itemsize``."""
    return float(sum(n_rows[name] * math.prod(shape) * itemsize
                     for name, shape in shapes.items()))
