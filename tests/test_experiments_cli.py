"""Packaged experiments by name, from any directory: `lowprec run heat`, `lowprec experiments`."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import lowprec.experiments as packaged
from lowprec.harness.cli import main
from lowprec.harness.config import load_config

PACKAGE_DIR = Path(packaged.__file__).parent


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory without any experiment file."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_list_names_every_packaged_file_with_a_one_line_description(elsewhere):
    result = invoke("experiments")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    on_disk = sorted(p.stem for p in PACKAGE_DIR.glob("*.toml"))
    assert [line.split()[0] for line in lines] == on_disk
    for line in lines:
        name, text = line.split(maxsplit=1)
        assert text and "\n" not in text and len(text) <= packaged.WIDTH
        # the description is the file's own leading comment, not invented
        first_comment = (PACKAGE_DIR / f"{name}.toml").read_text().splitlines()[0].lstrip("# ")
        assert first_comment.startswith(text.rstrip("…")[:30]), (name, text)


def test_write_one_out_to_edit_and_run_it(elsewhere):
    result = invoke("experiments", "heat", "-o", "mine.toml")
    assert result.exit_code == 0, result.output
    assert (elsewhere / "mine.toml").read_text() == (PACKAGE_DIR / "heat.toml").read_text()
    again = invoke("experiments", "heat", "-o", "mine.toml")
    assert again.exit_code == 1 and "already exists" in again.output
    assert invoke("experiments", "heat", "-o", "mine.toml", "--overwrite").exit_code == 0
    printed = invoke("experiments", "lorenz63")
    assert printed.output == (PACKAGE_DIR / "lorenz63.toml").read_text()


def test_run_by_name_from_another_directory(elsewhere):
    result = invoke("run", "heat", "--length", "2 days", "-q", "-o", "h.nc")
    assert result.exit_code == 0, result.output
    assert (elsewhere / "h.nc").is_file()
    text = invoke("inspect", "h.nc").output
    assert "model      heat" in text and "status     complete" in text


L63 = 'model = "lorenz63"\n[run]\nlength = "1 time unit"\noutput_interval = "0.1 time units"\n'


def test_a_local_file_wins_over_a_packaged_name(elsewhere):
    (elsewhere / "heat.toml").write_text(L63)
    assert load_config("heat.toml").model == "lorenz63"
    assert load_config("heat").model == "heat"        # a bare name without such a file: packaged
    (elsewhere / "heat").write_text(L63)
    assert load_config("heat").model == "lorenz63"


@pytest.mark.parametrize("command", [["run", "-o", "x.nc"], ["sweep"], ["spinup", "-o", "d"],
                                     ["tune"]])
def test_an_unknown_name_is_one_clear_line_listing_the_packaged_ones(elsewhere, command):
    result = invoke(command[0], "no_such_experiment", *command[1:])
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and "'no_such_experiment'" in error[0]
    assert "heat, heat_sweep" in error[0] and "lowprec experiments" in error[0]


def test_every_config_taking_command_resolves_names(elsewhere):
    """sweep, spinup and tune take names too (checked without running: --help of a resolved
    name is not enough, so ask each for its plan or check)."""
    result = invoke("tune", "shallow_water_tune", "--check", "--set", "tune.members=2")
    assert "no packaged experiment" not in result.output
    result = invoke("sweep", "heat_sweep", "--set", "sweep.sbits=[52]", "--set",
                    "sweep.modes=['nearest']", "--set", "sweep.controls=0", "--set",
                    "run.length='2 days'", "--set", "run.output_interval='1 day'", "--scheduler", "serial", "-q", "-o", "s")
    assert result.exit_code == 0, result.output
    assert len(list((elsewhere / "s" / "runs").glob("*_m00?.nc"))) == 4   # 4 members at sbits 52
    result = invoke("spinup", "heat", "-o", "spin", "--length", "1 day", "-q")
    assert result.exit_code == 0, result.output
    assert (elsewhere / "spin" / "spinup_diagnostics.nc").is_file()
