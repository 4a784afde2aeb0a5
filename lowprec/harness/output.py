"""A run's output: the layout of its file (variables, time axes, coordinates) and its rows.

Rows. Output ``k`` (counted from 0) is the state at step ``first_output + k * interval``. A
variable written at the output interval gets one row per output; a variable written as a mean
over ``r`` outputs (a longer interval: :mod:`lowprec.harness.run`) gets row ``j`` from outputs
``j r .. j r + r - 1``, summed in float64 in time order and divided by ``r``, on its own time
axis (``time_1d``) whose value is the end of the interval, with bounds (start, end). The sums
of the means in progress are part of a restart, so a checkpoint may fall anywhere.

Only the rows not yet written are held (:class:`RowBuffer`), at most a checkpoint's worth
(:func:`lowprec.harness.store.rows_per_write`) when the run writes a file; a run returning its
output in memory holds them all and builds the dataset at the end (:meth:`Outputs.dataset`),
with the same variables, coordinates and attributes as the file.

Storage precision: when every format of the run has sbits <= 23, a variable is stored as float32
while all its values are exactly float32 (checked value by value: a double-range format can hold
values outside float32's range), else float64 (a file variable is widened when it first needs to
be: :class:`lowprec.harness.store.RunFile`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import xarray as xr

from lowprec.harness.config import DAY, date_attrs
from lowprec.harness.store import (CALENDAR, SUM_PREFIX, TIME_UNITS, AxisSpec, Block, FileLayout,
                                   RestartLayout, Rows, VariableSpec, chunk_shape)

SCALAR_COORDS = "sbits mode member"     # the run's own coordinates, on every data variable


class RowBuffer:
    """Rows of one variable not yet written: float32 while every value is exactly float32."""

    def __init__(self, capacity: int, shape: tuple[int, ...], try_float32: bool) -> None:
        self.shape, self.try_float32 = shape, try_float32
        self.capacity = capacity
        self.n = 0
        self.data = self._empty()

    def _empty(self) -> np.ndarray:
        return np.empty((self.capacity, *self.shape),
                        dtype=np.float32 if self.try_float32 else np.float64)

    def put(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if self.data.dtype == np.float32:
            with np.errstate(over="ignore", invalid="ignore"):
                v32 = values.astype(np.float32)
            if np.array_equal(v32.astype(np.float64), values, equal_nan=True):
                self.data[self.n] = v32
                self.n += 1
                return
            self.data = self.data.astype(np.float64)     # values so far were exact: no loss
        self.data[self.n] = values
        self.n += 1

    def rows(self) -> np.ndarray:
        """The rows held (a view: valid until the next put or clear)."""
        return self.data[:self.n]

    def clear(self) -> None:
        """Forget the rows held (they are written), and try float32 again."""
        self.n = 0
        self.data = self._empty()


@dataclass(frozen=True)
class Variable:
    """One output variable as written: its time dimension, outputs per row, shape of a row."""

    name: str
    dims: tuple[str, ...]           # in the file, time dimension first
    ratio: int                      # outputs per row: 1 snapshots, r > 1 means
    shape: tuple[int, ...]
    attrs: dict[str, Any]

    @property
    def time_dim(self) -> str:
        return self.dims[0]


def time_axis_attrs(time_units: str, mean: str | None = None,
                    encoding: tuple[str, str] = (TIME_UNITS, CALENDAR)) -> tuple[dict, dict | None]:
    """(coordinate attributes, bounds attributes or None) of a time axis; ``mean``: its name;
    ``encoding``: (units, calendar) of a physical model's dates (RunSettings.time_encoding)."""
    if time_units == "1":
        # Dimensionless: CF has no "since" units for it; the checker's §4.4/§5.1 tests for a
        # coordinate named time are the known, documented deviation of such files.
        attrs = {"long_name": "model time (dimensionless)", "units": "1"}
        bounds = {"units": "1"}
    else:
        attrs = {"standard_name": "time", "long_name": "time", "axis": "T",
                 "units": encoding[0], "calendar": encoding[1], **date_attrs(encoding[1])}
        bounds = {}
    if mean is None:
        return attrs, None
    return dict(attrs, long_name=f"{attrs['long_name']} at the end of each averaging interval",
                bounds=f"{mean}_bounds"), bounds


def restart_layout(model: Any, step: int, sums: Mapping[str, np.ndarray] | None = None,
                   encoding: tuple[str, str] = (TIME_UNITS, CALENDAR)) -> RestartLayout:
    """The CF description of a restart of ``model`` at ``step``: its state arrays (the model's
    ``state_description``), the running sums of means in progress, and its model time (dates:
    ``encoding``, the run's (units, calendar))."""
    describe = getattr(model, "state_description", None)
    arrays = dict(describe()) if describe is not None else {}
    outputs = {o.name: o for o in model.OUTPUTS}
    for name in sums or {}:
        out = outputs.get(name)
        dims = tuple(d for d in out.dims if d != "time") if out is not None else None
        arrays[SUM_PREFIX + name] = (dims, {
            "long_name": f"running float64 sum of {out.long_name if out else name} over the "
                         "outputs of the mean in progress", "units": out.units if out else "1"})
    used = {d for dims, _ in arrays.values() if dims for d in dims}
    # the coordinate variables of the dims used, without formula terms naming absent fields
    coords = {name: (tuple(dims), np.asarray(values),
                     {k: v for k, v in attrs.items()
                      if k not in ("formula_terms", "computed_standard_name")})
              for name, (dims, values, attrs) in model.coords().items()
              if tuple(dims) == (name,) and name in used}
    t = step * model.dt
    if model.time_units == "1":
        time = ("model_time", t, {"long_name": "model time (dimensionless) of this state",
                                  "units": "1"})
    else:
        attrs, _ = time_axis_attrs(model.time_units, encoding=encoding)
        time = ("time", t / DAY, dict(attrs, long_name="time of this state"))
    return RestartLayout(arrays, coords, time)


def mean_cell_methods(cm: str | None, dim: str, interval_seconds: float | None) -> str:
    """cell_methods of a time mean over ``dim`` of snapshots ``interval_seconds`` apart."""
    every = f" (interval: {interval_seconds:g} s)" if interval_seconds is not None else ""
    method = f"{dim}: mean{every}"
    if cm and "time: point" in cm:
        return cm.replace("time: point", method)
    return f"{cm} {method}" if cm else method


class Outputs:
    """The output variables of a run, the rows not yet written, and the running means.

    model: gives OUTPUTS (CF metadata), coords(), dt and time_units. names: the variables
    written. shapes: one row's shape of each. ratios / time_dims: variables written as means
    (outputs per row, time dimension). first_output: step of output 0. interval: steps between
    outputs. rows_per_write: outputs buffered between writes; chunk_rows: outputs per chunk
    along time (dividing rows_per_write); capacity: outputs the buffers can hold
    (rows_per_write, or every output of an in-memory run). total_rows: outputs of the whole
    run, if known (long runs get chunks of fewer points: store.chunk_shape).
    labels: the scalar coordinates (sbits, mode, member) with their attributes.
    encoding: (units, calendar) of the dates of a physical model ([run] start and calendar).
    """

    def __init__(self, model: Any, names: list[str], shapes: Mapping[str, tuple[int, ...]],
                 ratios: Mapping[str, int], time_dims: Mapping[str, str], first_output: int,
                 interval: int, try_float32: bool, rows_per_write: int, capacity: int,
                 labels: Mapping[str, tuple[Any, dict]], chunk_rows: int | None = None,
                 encoding: tuple[str, str] = (TIME_UNITS, CALENDAR),
                 total_rows: int | None = None) -> None:
        self.model = model
        self.encoding = encoding            # (units, calendar) of the dates
        self.first_output, self.interval = first_output, interval
        self.rows_per_write = rows_per_write
        self.chunk_rows = chunk_rows or rows_per_write
        self.total_rows = total_rows
        specs = {o.name: o for o in model.OUTPUTS}
        seconds = interval * model.dt if model.time_units == "s" else None
        self.variables: dict[str, Variable] = {}
        for name in names:
            out, r = specs[name], ratios.get(name, 1)
            attrs = out.attrs()
            cm = attrs.get("cell_methods")
            dims = tuple(out.dims)
            if r > 1:
                attrs["cell_methods"] = mean_cell_methods(cm, time_dims[name], seconds)
                dims = tuple(time_dims[name] if d == "time" else d for d in dims)
            elif cm is None or "time:" not in cm:
                attrs["cell_methods"] = f"{cm} time: point" if cm else "time: point"
            self.variables[name] = Variable(name, dims, r, tuple(shapes[name]), attrs)
        self.axes: dict[str, int] = {"time": 1}         # time dimension -> outputs per row
        for var in self.variables.values():
            self.axes.setdefault(var.time_dim, var.ratio)
        self.buffers = {name: RowBuffer(capacity // v.ratio + 2, v.shape, try_float32)
                        for name, v in self.variables.items()}
        self.written = {dim: 0 for dim in self.axes}   # rows of each time axis written
        self.sums: dict[str, np.ndarray] = {}           # float64 sums of the means in progress
        self.labels = dict(labels)

    # -- rows ----------------------------------------------------------------------------------
    def rows_done(self, dim: str, k: int) -> int:
        """Rows of time axis ``dim`` complete after ``k`` outputs."""
        return k // self.axes[dim]

    def restore(self, k: int, sums: Mapping[str, np.ndarray]) -> None:
        """Continue after ``k`` outputs already written, with the sums of means in progress."""
        self.written = {dim: self.rows_done(dim, k) for dim in self.axes}
        self.sums = {name: np.array(s, dtype=np.float64) for name, s in sums.items()}
        missing = [n for n, v in self.variables.items() if v.ratio > 1 and k % v.ratio
                   and n not in self.sums]
        if missing:
            raise ValueError(f"the restart after output {k} lacks the running sums of "
                             f"{', '.join(missing)} (means in progress)")

    def preload(self, k: int, dataset: xr.Dataset) -> None:
        """Hold the first ``k`` outputs of ``dataset`` again as rows not yet written."""
        self.written = {dim: 0 for dim in self.axes}
        for name, var in self.variables.items():
            n = self.rows_done(var.time_dim, k)
            if name not in dataset or n == 0:
                continue
            buf = self.buffers[name]
            buf.capacity += n                   # room for these rows and a write's worth more
            buf.clear()
            for row in dataset[name].values[:n]:
                buf.put(row)

    def record(self, k: int, diagnostics: Mapping[str, np.ndarray]) -> None:
        """Output ``k``: a row of each snapshot variable; the means add it (a row when complete)."""
        for name, var in self.variables.items():
            values = diagnostics[name]
            r = var.ratio
            if r == 1:
                self.buffers[name].put(values)
                continue
            values = np.asarray(values, dtype=np.float64)
            self.sums[name] = values.copy() if k % r == 0 else self.sums[name] + values
            if (k + 1) % r == 0:
                self.buffers[name].put(self.sums.pop(name) / r)

    def pending(self, k: int) -> int:
        """Outputs recorded but not written (after ``k`` outputs)."""
        return k - self.written["time"]

    def block(self, k: int, attrs: Mapping[str, Any]) -> Block:
        """The rows recorded since the last write, up to output ``k`` (exclusive), as a Block."""
        block = Block(attrs=dict(attrs))
        for dim in self.axes:
            start, stop = self.written[dim], self.rows_done(dim, k)
            block.axes[dim] = self._axis_rows(dim, start, stop)
        for name, var in self.variables.items():
            block.variables[name] = Rows(self.written[var.time_dim], self.buffers[name].rows())
        return block

    def mark_written(self, k: int) -> None:
        """The rows up to output ``k`` are written: forget them."""
        self.written = {dim: self.rows_done(dim, k) for dim in self.axes}
        for buffer in self.buffers.values():
            buffer.clear()

    def _axis_rows(self, dim: str, start: int, stop: int) -> Rows:
        r = self.axes[dim]
        ends = self.first_output + self.interval * ((np.arange(start, stop, dtype=np.int64) + 1)
                                                    * r - 1)
        if r == 1:
            return Rows(start, self._model_time(ends))
        bounds = np.stack([ends - r * self.interval, ends], axis=-1)
        return Rows(start, self._model_time(ends), self._model_time(bounds))

    def _model_time(self, steps: np.ndarray) -> np.ndarray:
        if self.model.time_units == "1":
            return steps * self.model.dt
        return steps * (self.model.dt / DAY)

    # -- the file ------------------------------------------------------------------------------
    def layout(self) -> FileLayout:
        """The file's time axes, variables (chunked for readers of every time step: store doc)."""
        axes = {}
        for dim, r in self.axes.items():
            attrs, bounds = time_axis_attrs(self.model.time_units, None if r == 1 else dim,
                                            self.encoding)
            axes[dim] = AxisSpec(attrs, bounds, chunk=max(1, self.chunk_rows // r))
        variables = {name: VariableSpec(var.dims, dict(var.attrs, coordinates=SCALAR_COORDS),
                                        chunk_shape(var.shape, max(1, self.chunk_rows
                                                                   // var.ratio),
                                                    self._total_rows(var.ratio)))
                     for name, var in self.variables.items()}
        return FileLayout(axes, variables, self.coordinates())

    def _total_rows(self, ratio: int) -> int | None:
        return None if self.total_rows is None else max(1, self.total_rows // ratio)

    def coordinates(self) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        """The coordinates without a time dimension: the model's, then sbits, mode, member."""
        coords = {name: (tuple(dims), np.asarray(values), dict(attrs))
                  for name, (dims, values, attrs) in self.model.coords().items()}
        for name, (value, attrs) in self.labels.items():
            coords[name] = ((), np.asarray(value), dict(attrs))
        return coords

    # -- in memory -----------------------------------------------------------------------------
    def dataset(self, k: int, attrs: Mapping[str, Any]) -> xr.Dataset:
        """Every row held (an in-memory run), as the dataset a file of this run would open to."""
        block = self.block(k, attrs)
        data_vars: dict[str, xr.Variable] = {}
        coords: dict[str, xr.Variable] = {}
        for dim, rows in block.axes.items():
            if len(rows.values) == 0:
                continue
            r = self.axes[dim]
            a, b = time_axis_attrs(self.model.time_units, None if r == 1 else dim, self.encoding)
            coords[dim] = xr.Variable((dim,), rows.values, a)
            if b is not None:
                data_vars[f"{dim}_bounds"] = xr.Variable((dim, "nv"), rows.bounds, b)
        for name, rows in block.variables.items():
            if len(rows.values):
                data_vars[name] = xr.Variable(self.variables[name].dims, rows.values,
                                              self.variables[name].attrs)
        for name, (dims, values, cattrs) in self.coordinates().items():
            coords[name] = xr.Variable(dims, values, cattrs)
        absent = absent_variables(self.variables, data_vars)
        out = dict(block.attrs)
        if absent:
            out["lowprec_absent_variables"] = " ".join(absent)
        ds = xr.Dataset({n: data_vars[n] for n in data_vars}, coords, out)
        return xr.decode_cf(ds, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))

    # -- sizes ---------------------------------------------------------------------------------
    def row_bytes(self) -> int:
        """Bytes of one output of every variable as float64 (means counted per output)."""
        return sum(8 * math.prod(v.shape) for v in self.variables.values())


def absent_variables(variables: Mapping[str, Any], present: Mapping[str, Any]) -> list[str]:
    """Variables without a row yet (their time axis would be empty: store's module doc)."""
    return [n for n in variables if n not in present]
