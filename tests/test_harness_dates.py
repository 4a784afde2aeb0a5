"""[run] start and calendar: the dates of a physical model's time axis, through restarts and sweeps."""
from __future__ import annotations

import datetime

import cftime
import netCDF4
import numpy as np
import pytest
from click.testing import CliRunner

import lowprec
from lowprec.errors import ConfigError
from lowprec.harness.cli import main
from lowprec.harness.config import CALENDARS, load_config
from lowprec.harness.spinup import spinup
from lowprec.harness.sweep import sweep


def heat(length: str = "3 days", **run) -> dict:
    return {"model": "heat", "run": {"length": length, "output_interval": "1 day", **run}}


def file_time(path) -> tuple[str, str, np.ndarray]:
    with netCDF4.Dataset(path) as nc:
        t = nc["time"]
        return t.units, t.calendar, np.asarray(t[...])


def dates(start: tuple[int, int, int], calendar: str, days) -> list:
    """The oracle: cftime's own date arithmetic from the start date."""
    first = cftime.datetime(*start, calendar=calendar)
    return [first + datetime.timedelta(days=float(d)) for d in days]


def test_default_is_year_one_of_the_365_day_calendar_as_before(tmp_path):
    lowprec.run(heat(), tmp_path / "a.nc")
    units, calendar, _ = file_time(tmp_path / "a.nc")
    assert (units, calendar) == ("days since 0001-01-01 00:00:00", "365_day")
    assert file_time(tmp_path / "a.restart.nc")[:2] == (units, calendar)


@pytest.mark.parametrize("calendar", CALENDARS)
def test_start_and_calendar_are_recorded_and_the_dates_are_the_calendars(tmp_path, calendar):
    ds = lowprec.run(heat(start="2000-02-28", calendar=calendar), tmp_path / "a.nc")
    units, cal, days = file_time(tmp_path / "a.nc")
    assert (units, cal) == ("days since 2000-02-28 00:00:00", calendar)
    np.testing.assert_array_equal(days, [1.0, 2.0, 3.0])
    assert list(ds["time"].values) == dates((2000, 2, 28), calendar, days)
    # 29 February exists in these calendars only; 30 February in 360_day only
    day_after = ds["time"].values[0]
    assert (day_after.month, day_after.day) == (
        (3, 1) if calendar in ("noleap", "365_day") else (2, 29))
    assert file_time(tmp_path / "a.restart.nc")[:2] == (units, calendar)


def test_a_toml_date_and_a_time_of_day_are_accepted():
    run = load_config(heat(start=datetime.date(1990, 5, 3))).run
    assert run.time_encoding() == ("days since 1990-05-03 00:00:00", "365_day")
    run = load_config(heat(start="1990-5-3 06:30", calendar="standard")).run
    assert run.time_encoding() == ("days since 1990-05-03 06:30:00", "standard")


@pytest.mark.parametrize("run, words", [
    ({"calendar": "gregorianx"}, ["run.calendar = 'gregorianx'", "360_day"]),
    ({"start": "yesterday"}, ["run.start = 'yesterday'", "YYYY-MM-DD"]),
    ({"start": "2001-02-29", "calendar": "noleap"}, ["run.start = '2001-02-29'", "noleap"]),
    ({"start": "2000-02-31", "calendar": "standard"}, ["'2000-02-31'", "standard"]),
    ({"start": 2000}, ["run.start = 2000", "YYYY-MM-DD"]),
])
def test_bad_dates_are_one_clear_line(run, words):
    with pytest.raises(ConfigError) as e:
        load_config(heat(**run))
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_a_dimensionless_model_has_no_dates():
    with pytest.raises(ConfigError, match="dimensionless"):
        load_config({"model": "lorenz63", "run": {"length": "1 time unit",
                                                  "output_interval": "0.1 time units",
                                                  "start": "2000-01-01"}})


def test_a_bad_calendar_on_the_command_line_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "heat", "--set", "run.calendar=julien", "-o", "x.nc"])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [
        line for line in result.output.splitlines() if line.startswith("Error")]
    assert not (tmp_path / "x.nc").exists()


def test_a_restart_continues_the_date(tmp_path):
    first = lowprec.run(heat(start="2000-02-27", calendar="standard"), tmp_path / "a.nc")
    more = lowprec.run(heat("2 days"), tmp_path / "b.nc", restart_from=tmp_path / "a.restart.nc")
    units, calendar, _ = file_time(tmp_path / "b.nc")
    assert (units, calendar) == ("days since 2000-02-27 00:00:00", "standard")
    last = first["time"].values[-1]
    assert list(more["time"].values) == [last + datetime.timedelta(days=d) for d in (1, 2)]
    # and the continuation is the same run: bit for bit the uninterrupted one
    whole = lowprec.run(heat("5 days", start="2000-02-27", calendar="standard"))
    np.testing.assert_array_equal(more["T"].values, whole["T"].values[3:])
    assert list(whole["time"].values[3:]) == list(more["time"].values)


def test_a_restart_refuses_other_dates_in_one_line(tmp_path):
    lowprec.run(heat(start="2000-01-01"), tmp_path / "a.nc")
    with pytest.raises(ConfigError) as e:
        lowprec.run(heat(start="1990-01-01"), tmp_path / "b.nc",
                    restart_from=tmp_path / "a.restart.nc")
    assert "\n" not in str(e.value) and "'2000-01-01'" in str(e.value)
    assert "leave run.start unset" in str(e.value)


def test_a_sweep_from_a_dated_spinup_carries_the_dates(tmp_path):
    config = heat("2 days", start="1979-01-01", calendar="360_day")
    spun = spinup(config, tmp_path / "spin", length="4 days", restart_every="2 days")
    with netCDF4.Dataset(spun.restarts[0]) as nc:
        assert nc["time"].units == "days since 1979-01-01 00:00:00"
        assert nc.getncattr("lowprec_restart_date").startswith("1979-01-03")
    cfg = heat("2 days")                      # the sweep's experiment sets no dates
    cfg["sweep"] = {"sbits": [10], "modes": ["nearest"], "controls": 1, "members": 1,
                    "restarts": str(tmp_path / "spin")}
    sweep(cfg, tmp_path / "sw", scheduler="serial", quiet=True)
    files = sorted((tmp_path / "sw" / "runs").glob("*_m00?.nc"))
    assert files
    for f in files:
        units, calendar, days = file_time(f)
        assert (units, calendar) == ("days since 1979-01-01 00:00:00", "360_day")
    # member m starts from the m-th restart: day 2 or day 4, then two daily outputs
    starts = sorted(file_time(f)[2][0] for f in files)
    assert set(starts) <= {3.0, 5.0} and starts[0] == 3.0


def test_inspect_shows_the_dates_units_and_calendar(tmp_path):
    lowprec.run(heat(start="1979-06-01", calendar="noleap"), tmp_path / "a.nc")
    out = CliRunner().invoke(main, ["inspect", str(tmp_path / "a.nc")]).output
    assert ("time       1979-06-02 00:00:00 .. 1979-06-04 00:00:00  (days since 1979-06-01 "
            "00:00:00, noleap calendar)") in out, out
