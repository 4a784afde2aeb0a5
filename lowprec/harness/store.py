"""Run files on disk: CF-1.11 netCDF outputs streamed at each checkpoint, restarts, locks.

Outputs (:class:`RunFile`). A run's output grows at each checkpoint: the rows computed since
the last one are appended along unlimited time dimensions, so a checkpoint costs the data
since the previous one (and, when it falls inside a chunk, re-compressing that chunk: at most
:data:`CHUNK_BYTES` per variable) and the run keeps only those rows in memory. What is at the output
path is always a whole, closed netCDF file that opens with plain ``xarray.open_dataset`` and
says its status (``lowprec_status``). Appending in place and "always a valid file at the path"
fit together by keeping two copies and never writing the one at the path:

- ``<output>.partial`` is a second copy of the output. A checkpoint appends its rows (and sets
  the attributes, status last) to the partial copy, closes it, fsyncs it, then renames it over
  the output (atomic: a reader sees the old whole file or the new whole file). The file it
  replaced is kept, by a hard link made just before, as the next partial copy; the same rows
  are appended to it at once, so the two copies are equal again. Every row is written twice,
  and no byte of the file at the output path is ever modified in place.
- A run killed at any moment (SIGKILL included) leaves the output as of its last checkpoint,
  and perhaps a torn partial copy, which the next session (``--resume``) deletes and copies
  afresh from the output (once, a plain file copy). When the hard link cannot be made (a file
  system without links), or the partial copy cannot be opened for writing (a reader holds it
  open: HDF5 locks files against writers while they are read), it is deleted and copied from
  the output at the next checkpoint instead: correct, at the cost of one copy.
- A finished run (status ``complete``, ``blown_up`` or ``interrupted``) leaves no partial copy.
- Caveats. With HDF5 file locking turned off (``HDF5_USE_FILE_LOCKING=FALSE``, common on Lustre),
  a reader that keeps the output open across two checkpoints may see that (replaced) file change
  under it: reopen to read on. HDF5 does not reuse the space of a chunk it rewrites, so a run
  whose checkpoints fall inside chunks carries some slack in its file (at most a chunk per
  variable and checkpoint; none when checkpoints append whole chunks).

While a run is in progress, its output holds every row up to its last checkpoint (status
``running``) and its restart holds the state at (or before) that checkpoint; rows beyond the
restart's are recomputed bit for bit on resume and rewritten with the same values.

A time dimension and its variables appear in the file with their first row: an empty time axis
with the ``365_day`` calendar cannot be decoded by ``xarray.open_dataset`` (it fails on empty
non-standard calendars), so a run that blew up before its first daily mean has no daily
variables rather than empty ones (``lowprec_absent_variables`` lists them).

Chunking (:func:`chunk_shape`), for validators that read every time step of a block of grid
points (issue 10: sweeps larger than memory, read out of core by ``validation.evaluate``): each
time-series variable is chunked as (rows per checkpoint, a block of grid points): the trailing
dimensions whole while they fit, then a slab of the next one. Reading all time steps of one such
block reads only its own chunks, so a validator going block by block reads each file once. The
block has :data:`CHUNK_POINTS` points, fewer for long runs: at most what keeps the run's whole
series over the block (its "column") within :data:`COLUMN_BYTES` as float64, so that a validator
holding one column of every run of a sweep needs memory independent of the run length (a
10-year 6-hourly run: 35 points, 4 MiB). The rows per checkpoint (:func:`rows_per_write`) are
what fits in :data:`WRITE_BYTES` of buffered output (capped so a chunk stays under
:data:`CHUNK_BYTES`), so checkpoints append whole chunks.
Data variables are zlib level 1 with shuffle; coordinates have no ``_FillValue``; time is
"days since 0001-01-01 00:00:00" in the ``365_day`` calendar by default (physical models; [run]
start and calendar set them: ``RunSettings.time_encoding``) or plain model
time with units "1" (dimensionless models: the axis is ``model_time`` in the file, as CF
reserves ``time`` for "<unit> since <epoch>", and ``time`` again in what :func:`open_run`
returns), likewise for the time axes of means (``time_1d``) and their bounds.

Restarts are netCDF too, written atomically (a temporary file, then rename): every array of
``model.state_arrays`` as a float64 variable, the running sums of means in progress, and in the
attributes the step, the number of outputs written, the emulator's state (the stochastic-
rounding counter, JSON), the model name and the resolved experiment (TOML text). They are
CF-1.11 (:class:`RestartLayout`): the model's dims and long_name/units of each array
(``model.state_description``), the model time of the state as a scalar coordinate. Arrays are
read back by name, so restarts written before they were described still read.

Locks (:func:`output_lock`): one writer per output: ``<output>.lock`` is held (``flock``; the OS
drops it if the process dies) while a run writes, and removed when it ends.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from lowprec.errors import ConfigError, LowprecError

TIME_UNITS = "days since 0001-01-01 00:00:00"
CALENDAR = "365_day"
RESOLVED_HEADER = "# lowprec resolved experiment"
CHUNK_POINTS = 512              # grid points per chunk (a block a validator reads over all time)
COLUMN_BYTES = 4 * 2**20        # most bytes (as float64) of a run's whole series over one chunk's points
CHUNK_BYTES = 2**20             # largest chunk, bytes (as float64)
WRITE_BYTES = 32 * 2**20        # output rows buffered between checkpoints, bytes (as float64)
SUM_PREFIX = "lowprec_mean_sum__"
# A dimensionless model's time axis in its files: CF reserves a coordinate named time for
# "<unit> since <epoch>" (§4.4, §5.1). Readers (open_run, open_sweep) see it as "time" again.
MODEL_TIME = "model_time"


def as_time(ds: xr.Dataset) -> xr.Dataset:
    """A run file's dataset with its dimensionless ``model_time`` axis named ``time`` again."""
    if MODEL_TIME in ds.dims and "time" not in ds.variables and "time" not in ds.dims:
        ds = ds.rename({MODEL_TIME: "time"})
        for var in ds.data_vars.values():
            if "cell_methods" in var.attrs:
                var.attrs["cell_methods"] = file_cell_methods(var.attrs["cell_methods"],
                                                              {MODEL_TIME: "time"})
    return ds


def file_cell_methods(text: str, names: dict[str, str]) -> str:
    """cell_methods with its dimension names renamed (``names``: old -> new)."""
    for old, new in names.items():
        text = text.replace(f"{old}:", f"{new}:")
    return text


class StorageError(LowprecError, OSError):
    """A run file that cannot be read or written (truncated, disk full, read-only ...)."""

    def __str__(self) -> str:               # the message alone, without OSError's "[Errno N]"
        return self.strerror if self.strerror else super().__str__()


def output_companions(path: Path | str) -> tuple[Path, Path]:
    """(restart path, resolved-config path) beside an output.

    An output ending in ``.nc`` swaps that suffix (``a.nc`` -> ``a.restart.nc``, ``a.toml``);
    any other name gets them appended (``run.sb10`` -> ``run.sb10.restart.nc``,
    ``run.sb10.toml``), so outputs differing only after their last dot never share companions.
    """
    path = Path(path)
    name = path.name
    stem = name[:-3] if name.endswith(".nc") and len(name) > 3 else name
    return path.with_name(stem + ".restart.nc"), path.with_name(stem + ".toml")


def companion_owner(path: Path | str) -> str | None:
    """The output a companion file (restart or resolved config) was written for, if it says.

    Reads ``[run] output`` of the experiment recorded in it: the ``lowprec_config`` attribute of
    a restart, or the TOML text of a resolved config. None when the file does not say (or is
    not a lowprec file).
    """
    import tomllib
    path = Path(path)
    try:
        if path.suffix == ".nc":
            text = str(_global_attributes(path).get("lowprec_config", ""))
        else:
            text = path.read_text()
        output = tomllib.loads(text).get("run", {}).get("output")
    except (OSError, ValueError, UnicodeDecodeError, RuntimeError, tomllib.TOMLDecodeError):
        return None
    return None if output is None else str(output)


def cf_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """netCDF encoding: zlib 1 + shuffle on data variables, no _FillValue on coordinates or bounds."""
    encoding: dict[str, dict[str, Any]] = {}
    bounds = {c.attrs["bounds"] for c in ds.coords.values() if "bounds" in c.attrs}
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {}
        if name in ds.coords or name in bounds:
            enc["_FillValue"] = None
        elif var.dtype.kind == "f":
            enc.update(zlib=True, complevel=1, shuffle=True, _FillValue=None)
        if var.encoding.get("dtype") == "S1":     # strings asked to be char arrays (CF: a
            enc["dtype"] = "S1"                   # string coordinate variable is not vlen)
        if str(name).startswith("time") and var.dtype.kind == "O":   # time, time_1d, bounds
            enc.update(units=var.encoding.get("units", TIME_UNITS),
                       calendar=var.encoding.get("calendar", CALENDAR), dtype="float64")
        encoding[str(name)] = enc
    return encoding


# --------------------------------------------------------------------------------------------
# Atomic whole-file writes

@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    """A unique temporary name in ``path``'s directory, removed unless renamed (STYLE §16)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
    finally:
        partial.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    import glob
    return glob.escape(name)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):          # not every file system syncs directories
        _fsync(path)


def _replace_durably(partial: Path, path: Path) -> None:
    _fsync(partial)
    os.replace(partial, path)
    _fsync_directory(path.parent)


def write_atomic(ds: xr.Dataset, path: Path | str) -> None:
    """Write ``ds`` as netCDF-4 to ``path``: a unique temporary file first, then an atomic rename."""
    path = Path(path)
    try:
        with _temporary_beside(path) as partial:
            ds.to_netcdf(partial, engine="netcdf4", format="NETCDF4", encoding=cf_encoding(ds))
            _replace_durably(partial, path)
    except OSError as e:
        raise _write_error(e, path) from e


def write_text_atomic(text: str, path: Path | str) -> None:
    """Write a text file atomically (a unique temporary file, then rename)."""
    path = Path(path)
    try:
        with _temporary_beside(path) as partial:
            partial.write_text(text)
            _replace_durably(partial, path)
    except OSError as e:
        raise _write_error(e, path) from e


def disk_full(error: BaseException, where: Path) -> bool:
    """Whether a failed write was the file system filling up (ENOSPC / EDQUOT, or no room left)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:                # netCDF/HDF5 report a full disk as "HDF error": look at the room left
        return shutil.disk_usage(where if where.is_dir() else where.parent).free < 2**20
    except OSError:
        return False


def _write_error(error: BaseException, path: Path) -> StorageError:
    if isinstance(error, StorageError):
        return error
    if disk_full(error, path):
        return StorageError(errno.ENOSPC, f"{path}: the disk is full (no space left on "
                            f"{_mount_point(path)}); nothing partial was left")
    reason = getattr(error, "strerror", None) or str(error)
    return StorageError(getattr(error, "errno", None) or errno.EIO,
                        f"{path}: cannot be written ({reason}).")


def _mount_point(path: Path) -> str:
    p = Path(os.path.abspath(path))
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return str(p)


# --------------------------------------------------------------------------------------------
# Reading run files

def unreadable_reason(path: Path | str) -> str | None:
    """Why ``path`` cannot be read as netCDF (a short phrase), or None when it can."""
    try:
        _global_attributes(Path(path))
    except (OSError, RuntimeError, ValueError) as e:
        return _short_reason(e)
    return None


def _short_reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    text = text.split(": '")[0].strip()         # netCDF4 appends the path; we name it ourselves
    if "HDF error" in text or "Unknown file format" in text or "Not a valid" in text:
        return f"truncated or not netCDF: {text}"
    return text


def _global_attributes(path: Path) -> dict[str, Any]:
    import netCDF4
    with netCDF4.Dataset(path) as nc:
        return {k: nc.getncattr(k) for k in nc.ncattrs()}


def open_run(path: Path | str, *, load: bool = True, what: str = "run file") -> xr.Dataset:
    """Open one run file; ``load=True`` reads it into memory and closes the file.

    The time axis decodes to cftime dates (365_day calendar) or stays model time (Lorenz-63:
    ``model_time`` in the file, ``time`` in the dataset returned).
    A missing file is FileNotFoundError; one that cannot be read (truncated, not netCDF) is
    :class:`StorageError` naming it (``what`` says what it is, e.g. "output").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}.")
    try:
        ds = as_time(xr.open_dataset(path, engine="netcdf4",
                                     decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)))
        if load:
            with ds:
                return ds.load()
    except (OSError, RuntimeError, ValueError) as e:
        raise StorageError(errno.EIO, f"{path}: the {what} cannot be read "
                           f"({_short_reason(e)}).") from None
    return ds


# --------------------------------------------------------------------------------------------
# Streamed outputs

@dataclass(frozen=True)
class AxisSpec:
    """A time dimension of a run file: its coordinate's attributes, and its bounds' (or None)."""

    attrs: dict[str, Any]
    bounds_attrs: dict[str, Any] | None = None
    chunk: int = 1                      # rows per chunk of the coordinate (and its bounds)

    def bounds_name(self, dim: str) -> str:
        return f"{dim}_bounds"


@dataclass(frozen=True)
class VariableSpec:
    """A time-series variable: dims (its time dimension first), attributes, chunk shape."""

    dims: tuple[str, ...]
    attrs: dict[str, Any]
    chunks: tuple[int, ...]


@dataclass(frozen=True)
class FileLayout:
    """What a run file holds besides its rows: time axes, variables, fixed coordinates."""

    axes: dict[str, AxisSpec]
    variables: dict[str, VariableSpec]
    coords: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]]   # no time dim


@dataclass
class Rows:
    """Rows ``start .. start + len(values)`` of a time axis or a variable."""

    start: int
    values: np.ndarray                  # (rows, ...) in the dtype to store
    bounds: np.ndarray | None = None    # (rows, 2), a time axis with bounds


@dataclass
class Block:
    """What one checkpoint appends: rows of time axes and of variables, and the attributes."""

    axes: dict[str, Rows] = field(default_factory=dict)
    variables: dict[str, Rows] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


def chunk_shape(space: tuple[int, ...], rows: int, total_rows: int | None = None) -> tuple[int, ...]:
    """Chunks of a (time, *space) variable: ``rows`` time steps over a block of grid points.

    The block has :func:`chunk_points` points (CHUNK_POINTS; fewer for a run of ``total_rows``
    rows that is long). Trailing dimensions are kept whole while the block stays within them;
    the next one is cut to fit; leading ones get 1. (50, 100) -> (5, 100); (8, 48, 96) ->
    (1, 5, 96); (48, 96) over 14 600 rows -> (1, 35).
    """
    limit = chunk_points(total_rows)
    chunks: list[int] = []
    points = 1
    for size in reversed(space):
        take = size if points * size <= limit else max(1, limit // points)
        chunks.append(max(1, min(size, take)))
        points *= chunks[-1]
    return (max(1, rows), *reversed(chunks))


def chunk_points(total_rows: int | None = None) -> int:
    """Grid points per chunk: CHUNK_POINTS, at most COLUMN_BYTES over ``total_rows`` float64 rows."""
    if total_rows is None:
        return CHUNK_POINTS
    return max(1, min(CHUNK_POINTS, COLUMN_BYTES // (8 * max(1, total_rows))))


def rows_per_write(row_bytes: int, block_points: int, total_rows: int, multiple: int = 1) -> int:
    """Rows buffered between checkpoints: WRITE_BYTES of output, chunks at most CHUNK_BYTES.

    row_bytes: bytes of one output row of every variable, as float64; block_points: the most
    points in one variable's chunk. A multiple of ``multiple`` (so every mean is complete at a
    write), at least ``multiple``, at most the run's ``total_rows``.
    """
    rows = min(WRITE_BYTES // max(1, row_bytes), CHUNK_BYTES // max(1, 8 * block_points))
    rows = max(multiple, rows - rows % multiple)
    return max(1, min(rows, total_rows))


class RunFile:
    """The output file of one run, appended at each checkpoint (the guarantee: module doc).

    Use under :func:`output_lock`. ``fresh=True`` starts a new file whatever is at ``path``
    (it is replaced at the first write); otherwise writes continue the file at ``path``.
    """

    def __init__(self, path: Path | str, layout: FileLayout, *, fresh: bool) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._previous = self.path.with_name(self.path.name + ".previous")
        self.layout = layout
        time_axis = layout.axes.get("time")
        self.names = ({"time": MODEL_TIME} if time_axis is not None
                      and time_axis.attrs.get("units") == "1" else {})   # dim -> its file name
        self.fresh = fresh
        self.writes = 0
        for stale in (self.partial, self._previous):    # left by a killed session
            stale.unlink(missing_ok=True)
        for name in (self.path, *output_companions(self.path)):   # its temporary files too
            for stale in name.parent.glob(f"{glob_escape(name.name)}.*.partial"):
                stale.unlink(missing_ok=True)

    # -- the file at the path ------------------------------------------------------------------
    @staticmethod
    def rows_in(path: Path | str) -> dict[str, int]:
        """Rows of each time dimension (``time``, ``time_1d`` ...) of the file at ``path``."""
        import netCDF4
        with netCDF4.Dataset(path) as nc:
            return {("time" if name == MODEL_TIME else name): len(d)
                    for name, d in nc.dimensions.items()
                    if name.startswith("time") or name == MODEL_TIME}

    @staticmethod
    def appendable(path: Path | str) -> bool:
        """Whether the file at ``path`` can be appended to (its time dimensions are unlimited)."""
        import netCDF4
        with netCDF4.Dataset(path) as nc:
            times = [d for name, d in nc.dimensions.items()
                     if name.startswith("time") or name == MODEL_TIME]
            return all(d.isunlimited() for d in times)

    # -- a checkpoint --------------------------------------------------------------------------
    def write(self, block: Block, *, final: bool = False) -> None:
        """Append ``block`` and set the attributes, replacing the file at the path atomically.

        final: the last write of this session (complete, blown up or interrupted): no partial
        copy is kept. StorageError (disk full, read-only ...) leaves the file at the path as it
        was and no partial copy.
        """
        try:
            self._prepare_partial()
            self._apply(self.partial, block)
            _fsync(self.partial)
            linked = self._swap()
            self.writes += 1
            self.fresh = False
        except BaseException as e:
            self.partial.unlink(missing_ok=True)
            self._previous.unlink(missing_ok=True)
            if isinstance(e, Exception) and not isinstance(e, LowprecError):
                raise _write_error(e, self.path) from e
            raise
        if final or not linked:
            self.partial.unlink(missing_ok=True)
            return
        try:                            # the replaced file becomes the next partial copy
            self._apply(self.partial, block)
        except Exception:               # noqa: BLE001 - held open by a reader, disk full ...:
            self.partial.unlink(missing_ok=True)        # copied afresh at the next write

    def _prepare_partial(self) -> None:
        if self.partial.exists():
            return
        if self.fresh or not self.path.exists():
            return                      # _apply creates it
        with _temporary_beside(self.partial) as tmp:
            shutil.copyfile(self.path, tmp)
            os.replace(tmp, self.partial)

    def _swap(self) -> bool:
        """Rename the partial copy over the path; the old file (if linkable) becomes the partial."""
        linked = False
        if self.path.exists() and not self.fresh:
            try:
                os.link(self.path, self._previous)
                linked = True
            except OSError:
                linked = False
        os.replace(self.partial, self.path)
        _fsync_directory(self.path.parent)
        if linked:
            os.replace(self._previous, self.partial)
        return linked

    def _apply(self, target: Path, block: Block) -> None:
        import netCDF4
        exists = target.exists()
        promote = self._needs_float64(target, block) if exists else set()
        if promote:
            _rebuild(target, promote)
        nc = netCDF4.Dataset(target, "a" if exists else "w", format="NETCDF4")
        try:
            if not exists:
                self._create_coordinates(nc)
            for dim, rows in block.axes.items():
                self._write_axis(nc, dim, rows)
            for name, rows in block.variables.items():
                self._write_variable(nc, name, rows)
            absent = [n for n in self.layout.variables if n not in nc.variables]
            attrs = dict(block.attrs)
            if absent:
                attrs["lowprec_absent_variables"] = " ".join(absent)
            if len(absent) == len(self.layout.variables):
                # no variable names the scalar coordinates (sbits, mode, member): say it globally
                attrs["coordinates"] = " ".join(n for n, (dims, _, _) in self.layout.coords.items()
                                                if tuple(dims) != (n,))
            status = attrs.pop("lowprec_status", None)
            for key in [k for k in nc.ncattrs() if k not in attrs and k != "lowprec_status"]:
                nc.delncattr(key)
            for key, value in attrs.items():
                nc.setncattr(key, value)
            if status is not None:          # last: a file saying "complete" holds every row
                nc.setncattr("lowprec_status", status)
        finally:
            nc.close()

    def _needs_float64(self, target: Path, block: Block) -> set[str]:
        import netCDF4
        with netCDF4.Dataset(target) as nc:
            return {name for name, rows in block.variables.items()
                    if name in nc.variables and nc[name].dtype == np.float32
                    and rows.values.dtype == np.float64}

    def _create_coordinates(self, nc: Any) -> None:
        for name, (dims, values, attrs) in self.layout.coords.items():
            values = np.asarray(values)
            for d, n in zip(dims, values.shape):
                if d not in nc.dimensions:
                    nc.createDimension(d, n)
            if values.dtype.kind in "UO":
                # A char array, not a netCDF-4 string: CF's classic form, and the netCDF library
                # crashes reopening files with vlen strings that are open elsewhere in a process.
                text = np.asarray(str(values)).astype("S").tobytes()
                dim = f"{name}_strlen"
                nc.createDimension(dim, len(text))
                var = nc.createVariable(name, "S1", (*dims, dim))
                var[:] = np.frombuffer(text, dtype="S1")
                var.setncattr("_Encoding", "utf-8")
                var.setncatts(attrs)
            else:
                _write_array(nc, name, tuple(dims), values, attrs)

    def _write_axis(self, nc: Any, dim: str, rows: Rows) -> None:
        if len(rows.values) == 0:
            return
        spec = self.layout.axes[dim]
        dim = self.names.get(dim, dim)
        if dim not in nc.dimensions:
            nc.createDimension(dim, None)
            var = nc.createVariable(dim, "f8", (dim,), chunksizes=(spec.chunk,), fill_value=False)
            var.setncatts(spec.attrs)
            if spec.bounds_attrs is not None:
                if "nv" not in nc.dimensions:
                    nc.createDimension("nv", 2)
                b = nc.createVariable(spec.bounds_name(dim), "f8", (dim, "nv"),
                                      chunksizes=(spec.chunk, 2), fill_value=False)
                b.setncatts(spec.bounds_attrs)
        stop = rows.start + len(rows.values)
        nc[dim][rows.start:stop] = rows.values
        if spec.bounds_attrs is not None:
            nc[spec.bounds_name(dim)][rows.start:stop, :] = rows.bounds

    def _write_variable(self, nc: Any, name: str, rows: Rows) -> None:
        if len(rows.values) == 0:
            return
        spec = self.layout.variables[name]
        if name not in nc.variables:
            dims = tuple(self.names.get(d, d) for d in spec.dims)
            var = nc.createVariable(name, rows.values.dtype, dims, zlib=True, complevel=1,
                                    shuffle=True, chunksizes=spec.chunks, fill_value=False)
            attrs = dict(spec.attrs)
            if "cell_methods" in attrs:
                attrs["cell_methods"] = file_cell_methods(attrs["cell_methods"], self.names)
            var.setncatts(attrs)
        var = nc[name]
        # a chunk or two in the cache: written chunks go to disk as they fill, not all at close
        var.set_var_chunk_cache(size=2 * CHUNK_BYTES, nelems=61, preemption=1.0)
        var[rows.start:rows.start + len(rows.values)] = rows.values.astype(var.dtype, copy=False)


def _rebuild(path: Path, float64: set[str]) -> None:
    """Rewrite the netCDF file at ``path`` with the variables ``float64`` stored as float64.

    Once per variable and run at most: when a variable stored as float32 (every value so far
    exactly float32) gets a value that is not. Copied a chunk of rows at a time.
    """
    import netCDF4
    with _temporary_beside(path) as tmp:
        with netCDF4.Dataset(path) as src, netCDF4.Dataset(tmp, "w", format="NETCDF4") as dst:
            for nc in (src, dst):
                nc.set_auto_maskandscale(False)
                nc.set_auto_chartostring(False)
            for name, dim in src.dimensions.items():
                dst.createDimension(name, None if dim.isunlimited() else len(dim))
            for name, var in src.variables.items():
                filters = var.filters() or {}
                chunking = var.chunking()
                dtype = np.float64 if name in float64 else var.datatype
                kwargs: dict[str, Any] = {"fill_value": False}
                if chunking != "contiguous":
                    kwargs.update(chunksizes=chunking, zlib=bool(filters.get("zlib")),
                                  complevel=filters.get("complevel", 0),
                                  shuffle=bool(filters.get("shuffle")))
                new = dst.createVariable(name, dtype, var.dimensions, **kwargs)
                new.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
                if not var.dimensions:
                    new.assignValue(var.getValue())
                    continue
                step = chunking[0] if chunking != "contiguous" else max(1, len(var))
                for start in range(0, len(var), step):
                    new[start:start + step] = np.asarray(var[start:start + step]).astype(
                        new.dtype, copy=False)
            dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
        os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Locks

@contextlib.contextmanager
def output_lock(path: Path | str, what: str = "run") -> Iterator[None]:
    """Hold ``<path>.lock`` while writing ``path``; ConfigError if another process holds it.

    The lock file is removed on the way out; a process that dies drops its lock (flock), and
    the file it leaves is taken over by the next writer.
    """
    try:
        import fcntl
    except ImportError:                     # not POSIX: no lock
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".lock")
    while True:
        f = open(lock, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise ConfigError(f"{path} is being written by another {what} (it holds {lock}); "
                              "wait for it to finish, or choose another output.") from None
        try:                                # the file we locked must still be the one at the path
            same = os.fstat(f.fileno()).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()                           # removed by the previous holder meanwhile: again
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        lock.unlink(missing_ok=True)
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


# --------------------------------------------------------------------------------------------
# Restarts

@dataclass(frozen=True)
class Restart:
    """What a run needs to continue exactly: state, step, outputs written, emulator state."""

    arrays: dict[str, np.ndarray]   # model.state_arrays(state): float64, exact
    step: int                       # steps since the initial state (spin-up included)
    outputs: int                    # outputs written to the run file when this was saved
    emulator_state: dict[str, Any]  # emu.get_state(): the stochastic-rounding counter
    model: str
    config: str                     # the resolved experiment (TOML) that wrote it
    sums: dict[str, np.ndarray] = field(default_factory=dict)   # means in progress: float64 sums


@dataclass(frozen=True)
class RestartLayout:
    """What makes a restart file self-describing (CF-1.11): each array's dims and attributes,
    the coordinates its dims name, and its model time (a scalar coordinate)."""

    arrays: dict[str, tuple[tuple[str, ...], dict[str, Any]]]     # name (sums: prefixed)
    coords: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]]
    time: tuple[str, float, dict[str, Any]]                         # name, value, attributes
    attrs: dict[str, Any] = field(default_factory=dict)             # more global attributes


def write_restart(restart: Restart, path: Path | str, layout: RestartLayout | None = None) -> None:
    """Write a restart file atomically (netCDF; arrays and sums as float64 variables).

    With ``layout`` (:func:`lowprec.harness.output.restart_layout`) the file is CF-1.11: named
    dimensions, long_name and units on every array, the model time as a scalar coordinate. The
    arrays are the same either way (read back by name: :func:`read_restart`). Written with the
    netCDF library directly (as run files are): no xarray lock is ever held by a run's own
    writes, and a fresh process does not pay for xarray's encoders.
    """
    import netCDF4

    import lowprec
    attrs = {"Conventions": "CF-1.11",
             "title": f"lowprec restart of a {restart.model} run",
             "history": f"written by lowprec {lowprec.__version__} at step {restart.step}",
             "lowprec_restart_step": np.int64(restart.step),
             "lowprec_restart_outputs": np.int64(restart.outputs),
             "lowprec_emulator_state": json.dumps(restart.emulator_state),
             "lowprec_model": restart.model, "lowprec_config": restart.config,
             "lowprec_state_arrays": json.dumps(list(restart.arrays)),
             "lowprec_mean_sums": json.dumps(list(restart.sums))}
    if layout is not None:
        attrs.update(layout.attrs)
    described = layout.arrays if layout is not None else {}
    path = Path(path)
    try:
        with _temporary_beside(path) as partial:
            with netCDF4.Dataset(partial, "w", format="NETCDF4") as nc:
                if layout is not None:
                    name, value, tattrs = layout.time
                    _write_array(nc, name, (), np.float64(value), tattrs)
                    for cname, (dims, values, cattrs) in layout.coords.items():
                        _write_array(nc, cname, dims, values, cattrs)
                for prefix, arrays in (("", restart.arrays), (SUM_PREFIX, restart.sums)):
                    for name, a in arrays.items():
                        a = np.asarray(a, dtype=np.float64)
                        dims, vattrs = described.get(prefix + name, (None, {}))
                        if dims is None or len(dims) != a.ndim:
                            dims = tuple(f"{prefix}{name}_dim{i}" for i in range(a.ndim))
                        if layout is not None:
                            vattrs = dict(vattrs, coordinates=layout.time[0])
                        _write_array(nc, prefix + name, dims, a, vattrs)
                nc.setncatts(attrs)
            _replace_durably(partial, path)
    except (OSError, RuntimeError) as e:
        raise _write_error(e, path) from e


def _write_array(nc: Any, name: str, dims: tuple[str, ...], values: np.ndarray,
                 attrs: dict[str, Any]) -> None:
    """One variable (no fill value), its dimensions created as needed (sizes must agree)."""
    values = np.asarray(values)
    for d, n in zip(dims, values.shape):
        if d not in nc.dimensions:
            nc.createDimension(d, n)
        elif len(nc.dimensions[d]) != n:
            raise ValueError(f"dimension {d!r}: {name} has {n} points, another variable "
                             f"{len(nc.dimensions[d])}")
    var = nc.createVariable(name, values.dtype, dims, fill_value=False)
    if values.ndim:
        var[...] = values
    else:
        var.assignValue(values)
    var.setncatts(attrs)


def read_restart(path: Path | str, key: str = "restart_from") -> Restart:
    """Read a restart file written by :func:`write_restart` (ConfigError naming ``key`` if not)."""
    import netCDF4
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{key} = {str(path)!r}: no such restart file (a run writes "
                          "<output>.restart.nc beside its output).")

    def values(var: Any) -> np.ndarray:
        return np.array(var[...] if var.ndim else var.getValue(), dtype=np.float64)

    try:
        with netCDF4.Dataset(path) as nc:
            nc.set_auto_maskandscale(False)
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
            if "lowprec_restart_step" not in attrs:
                raise ConfigError(f"{key} = {str(path)!r}: not a lowprec restart file (no "
                                  "lowprec_restart_step attribute).")
            names = json.loads(attrs["lowprec_state_arrays"])
            sums = json.loads(attrs.get("lowprec_mean_sums", "[]"))
            arrays = {name: values(nc[name]) for name in names}
            sum_arrays = {name: values(nc[SUM_PREFIX + name]) for name in sums}
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{key} = {str(path)!r}: cannot be read as a restart file "
                          f"({_short_reason(e)}).") from None
    return Restart(arrays=arrays, step=int(attrs["lowprec_restart_step"]),
                   outputs=int(attrs["lowprec_restart_outputs"]),
                   emulator_state=json.loads(attrs["lowprec_emulator_state"]),
                   model=str(attrs["lowprec_model"]), config=str(attrs["lowprec_config"]),
                   sums=sum_arrays)
