"""Run files on disk: CF-1.11 netCDF outputs and restarts, always written atomically.

A write goes to ``<path>.partial`` and is then renamed over ``path`` (``os.replace``), so a reader
(or a run killed mid-write) sees either the old file or the whole new one, never a torn file.

Encoding (:func:`cf_encoding`): data variables zlib level 1 with shuffle; coordinates without
``_FillValue``; time as "days since 0001-01-01 00:00:00" in the ``365_day`` calendar (physical
models) or plain model time with units "1" (dimensionless models); the same for the time
coordinates of variables written at longer intervals (``time_1d``) and their bounds.

A restart file is netCDF too: every array of ``model.state_arrays`` as a float64 variable, and in
its attributes the step index, the number of outputs written so far, the emulator's state (the
stochastic-rounding counter, as JSON), the model name and the resolved experiment (TOML text).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lowprec.errors import ConfigError

TIME_UNITS = "days since 0001-01-01 00:00:00"
CALENDAR = "365_day"
RESOLVED_HEADER = "# lowprec resolved experiment"


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
            with xr.open_dataset(path, engine="netcdf4") as ds:
                text = str(ds.attrs.get("lowprec_config", ""))
        else:
            text = path.read_text()
        output = tomllib.loads(text).get("run", {}).get("output")
    except (OSError, ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError):
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


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_atomic(ds: xr.Dataset, path: Path | str) -> None:
    """Write ``ds`` as netCDF-4 to ``path``: a temporary file first, then an atomic rename."""
    path = Path(path)
    partial = _partial(path)
    try:
        ds.to_netcdf(partial, engine="netcdf4", format="NETCDF4", encoding=cf_encoding(ds))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: Path | str) -> None:
    """Write a text file atomically (temporary file, then rename)."""
    path = Path(path)
    partial = _partial(path)
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def open_run(path: Path | str, *, load: bool = True) -> xr.Dataset:
    """Open one run file; ``load=True`` reads it into memory and closes the file.

    The time axis decodes to cftime dates (365_day calendar) or stays model time (Lorenz-63).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such run file.")
    ds = xr.open_dataset(path, engine="netcdf4",
                         decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    if load:
        with ds:
            return ds.load()
    return ds


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


def write_restart(restart: Restart, path: Path | str) -> None:
    """Write a restart file atomically (netCDF; arrays as float64 variables)."""
    data_vars = {}
    for name, a in restart.arrays.items():
        a = np.asarray(a, dtype=np.float64)
        dims = tuple(f"{name}_dim{i}" for i in range(a.ndim))
        data_vars[name] = xr.Variable(dims, a)
    ds = xr.Dataset(data_vars)
    ds.attrs = {"title": f"lowprec restart of a {restart.model} run",
                "lowprec_restart_step": np.int64(restart.step),
                "lowprec_restart_outputs": np.int64(restart.outputs),
                "lowprec_emulator_state": json.dumps(restart.emulator_state),
                "lowprec_model": restart.model, "lowprec_config": restart.config,
                "lowprec_state_arrays": json.dumps(list(restart.arrays))}
    path = Path(path)
    partial = _partial(path)
    try:
        ds.to_netcdf(partial, engine="netcdf4", format="NETCDF4",
                     encoding={k: {"_FillValue": None} for k in ds.data_vars})
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_restart(path: Path | str) -> Restart:
    """Read a restart file written by :func:`write_restart`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"restart_from = {str(path)!r}: no such restart file (a run writes "
                          "<output>.restart.nc beside its output).")
    with xr.open_dataset(path, engine="netcdf4") as ds:
        attrs = dict(ds.attrs)
        if "lowprec_restart_step" not in attrs:
            raise ConfigError(f"restart_from = {str(path)!r}: not a lowprec restart file (no "
                              "lowprec_restart_step attribute).")
        names = json.loads(attrs["lowprec_state_arrays"])
        arrays = {name: np.array(ds[name].values, dtype=np.float64) for name in names}
    return Restart(arrays=arrays, step=int(attrs["lowprec_restart_step"]),
                   outputs=int(attrs["lowprec_restart_outputs"]),
                   emulator_state=json.loads(attrs["lowprec_emulator_state"]),
                   model=str(attrs["lowprec_model"]), config=str(attrs["lowprec_config"]))
