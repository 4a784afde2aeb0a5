"""What the README and the packaged experiment files say is what the code does."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

import lowprec
from lowprec.demo import EXPERIMENTS
from lowprec.harness.config import load_config
from lowprec.harness.sweep import parse_sweep, plan, preflight

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_no_shell_line_of_the_readme_pipes_into_an_option():
    """`cmd --a | --b` pasted into a shell is a pipeline into a command named --b."""
    for block in code_blocks("sh"):
        for line in block.splitlines():
            code = line.split("  #")[0]
            assert not re.search(r"\|\s*-", code), line


def test_the_python_sweep_example_is_a_small_sweep_that_can_run(monkeypatch):
    """The README's lowprec.sweep call, as written, plans a small sweep every run of which
    passes the pre-flight checks (its experiment named as a packaged one: from any directory)."""
    (block,) = [b for b in code_blocks("python") if "lowprec.sweep(" in b and "SLURMCluster" not in b]
    call = next(node for node in ast.walk(ast.parse(block))
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "lowprec.sweep")
    seen = {}

    def planned(config, outdir, *, scheduler=None, overrides=None, **_):
        seen.update(outdir=outdir, scheduler=scheduler)
        exp = load_config(config, overrides)
        keys = plan(config, overrides)
        preflight(exp, keys)
        seen.update(exp=exp, keys=keys)

    monkeypatch.setattr(lowprec, "sweep", planned, raising=False)
    eval(compile(ast.Expression(call), "README.md", "eval"), {"lowprec": lowprec})
    spec = parse_sweep(seen["exp"].sweep)
    assert len(seen["keys"]) == 5 + 5 + 2 * 2 * 5 == 30 and spec.sbits == (6, 10)
    assert seen["exp"].params["particles"] == 100 and seen["scheduler"] == "serial"
    assert f'open_sweep("{seen["outdir"]}")' in block


def test_checkpoint_interval_is_documented_as_model_time():
    row = next(line for line in README.splitlines() if line.startswith("| `run.checkpoint_interval`"))
    assert "model time between" in row and "wall time" in row.split("|")[2]     # the default only


def heat_at_5m(years: int, **config) -> np.ndarray:
    ds = lowprec.run({"model": "heat", "params": config.get("params", {}),
                      "precision": config["precision"],
                      "run": {"length": f"{years} years", "output_interval": "365 days"}}, quiet=True)
    return ds["T"].sel(depth=5.0).values


def test_heat_toml_says_what_the_anomaly_formulation_does_at_10_sbits_nearest():
    """heat.toml: the anomaly formulation stagnates too, at the number it names (measured over 60
    years; 2 here: the stall is reached within the first year and held)."""
    text = (EXPERIMENTS / "heat.toml").read_text()
    stuck_plain, stuck_anomaly = (float(x) for x in re.findall(r"(27\d\.\d\d) K", text)[:3:2])
    nearest = {"sbits": 10, "mode": "nearest"}
    plain = heat_at_5m(2, precision=nearest)
    anomaly = heat_at_5m(2, precision=nearest, params={"anomaly": True})
    double = heat_at_5m(2, precision={"sbits": 52})
    assert list(plain) == [stuck_plain] * 2 and list(anomaly) == [stuck_anomaly] * 2
    assert double[1] - anomaly[1] > 3.0 and double[1] > double[0]       # float64: 277.2 K, warming
