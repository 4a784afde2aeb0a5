"""Mutation testing of lowprec's core with cosmic-ray: a measurement of the tests (TESTING.md).

    .venv/bin/python tests/mutation/run_mutation.py                  # every target (hours)
    .venv/bin/python tests/mutation/run_mutation.py heat lorenz63    # some targets
    .venv/bin/python tests/mutation/run_mutation.py --report         # scores of finished sessions
    .venv/bin/python tests/mutation/run_mutation.py --retest kernels # survivors again (after new tests)

Each target is one module, optionally only some of its functions and classes, and the test files
that cover it: a mutant runs only those (``pytest -x``), in a copy of the repository under
--workdir (cosmic-ray edits the source in place; the working tree is never touched). Operators: a
mutmut-like set (one replacement per operator: + → −, < → <=, == → !=, n → n ± 1, True ↔ False,
and ↔ or, not added or removed, break ↔ continue, loops run zero times); cosmic-ray's
all-pairs binary and comparison replacements, decorator removal (removing @njit only makes a
kernel slow) and variable insertion are left out. Targets with numba kernels run every mutant
against an empty numba cache (tests/mutation/pytest_fresh_cache.py). ``--sample N`` tests a
seeded random sample of N mutants per target (0: all); the report then gives the score with its
95 % Wilson interval.

Outcomes: killed (a test failed, errored or timed out), survived, incompetent (the mutant did not
run, e.g. numba refused to compile it: counted as killed, as cosmic-ray does, and listed).
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = "tests/mutation/pytest_fresh_cache.py"

ROUNDING_TESTS = ("tests/test_rounding_oracle.py", "tests/test_rounding_ieee.py",
                  "tests/test_rounding_stochastic.py", "tests/test_rounding_api.py",
                  "tests/test_rounding_backends.py", "tests/test_emulated_fastpath.py")


@dataclass(frozen=True)
class Target:
    module: str                         # path of the module in the repository
    tests: tuple[str, ...]              # the test files that cover it, fastest first
    scope: tuple[str, ...] = ()         # dotted names of the functions/classes mutated (all: ())
    numba: bool = False                 # holds njit code: an empty numba cache per mutant
    timeout: float = 120.0              # s per mutant (an unmutated run takes 2–15 s); killed


TARGETS = {
    # reference.py is plain numpy (the kernels' cache stays valid); the backends test compares
    # it with the kernel bit for bit, the stochastic tests run both backends against the exact
    # probabilities, test_emulated_fastpath uses it as the oracle
    "reference": Target("lowprec/rounding/reference.py",
                        ("tests/test_rounding_backends.py", "tests/test_rounding_stochastic.py",
                         "tests/test_emulated_fastpath.py")),
    "kernels": Target("lowprec/rounding/kernels.py", ROUNDING_TESTS, numba=True),
    "randombits": Target("lowprec/rounding/randombits.py", ROUNDING_TESTS, numba=True),
    "lorenz63": Target("models/lorenz63.py", ("tests/test_models_lorenz63.py",),
                       scope=("Lorenz63.__init__", "Lorenz63.tendency")),
    "heat": Target("models/heat.py", ("tests/test_models_heat.py",),
                   scope=("Params.xi", "HeatColumn.__init__", "HeatColumn.top_temperature",
                          "HeatColumn.step")),
    "shallow_water": Target("models/shallow_water.py", ("tests/test_models_shallow_water.py",),
                            scope=("ShallowWaterParams.viscosity", "east", "west",
                                   "depth_at_rest", "Dynamics", "Dissipation", "kahan_add",
                                   "rk4_compensated")),
    "wasserstein": Target("validation/wasserstein.py",
                          ("tests/test_validation_wasserstein.py",
                           "tests/test_validation_ensemble.py"), numba=True),
    "significance": Target("validation/significance.py",
                           ("tests/test_validation_significance.py",
                            "tests/test_validation_ensemble.py")),
}

KEPT_OPERATORS = re.compile("^core/(" + "|".join([
    "ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv|Pow_Mul"
    "|LShift_RShift|RShift_LShift|BitAnd_BitOr|BitOr_BitAnd|BitXor_BitOr)",
    "ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is)",
    "ReplaceUnaryOperator_Delete_(USub|Invert|Not)",
    "NumberReplacer", "ReplaceTrueWithFalse", "ReplaceFalseWithTrue", "ReplaceAndWithOr",
    "ReplaceOrWithAnd", "ReplaceBreakWithContinue", "ReplaceContinueWithBreak",
    "ZeroIterationForLoop", "AddNot"]) + ")$")


def scoped_lines(path: Path, scope: tuple[str, ...]) -> set[int] | None:
    """Line numbers of the named functions/classes (dotted: Class.method) of a module."""
    if not scope:
        return None
    tree = ast.parse(path.read_text())
    found: dict[str, ast.AST] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                found[name] = child
                visit(child, name + ".")

    visit(tree, "")
    missing = [n for n in scope if n not in found]
    if missing:
        raise SystemExit(f"{path}: no function or class {missing}; have {sorted(found)}")
    lines: set[int] = set()
    for name in scope:
        node = found[name]
        lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def copy_repository(dest: Path, tests_from: str | None = None) -> None:
    """The working tree's tracked and untracked (not ignored) files, copied to dest; with
    tests_from, the test files (tests/test_*.py, conftest) as they were at that commit."""
    if dest.exists():
        shutil.rmtree(dest)
    for name in git("ls-files", "-co", "--exclude-standard").split():
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    if tests_from:
        for old in (dest / "tests").glob("*.py"):
            old.unlink()
        for name in git("ls-tree", "--name-only", tests_from, "tests/").split():
            if name.endswith(".py"):
                (dest / name).write_text(git("show", f"{tests_from}:{name}"))


def test_command(target: Target) -> str:
    fresh = " --fresh-numba-cache" if target.numba else ""
    return (f"{sys.executable} {WRAPPER}{fresh} -x -q -p no:cacheprovider "
            f"-o addopts='' {' '.join(target.tests)}")


def write_config(name: str, target: Target, workdir: Path) -> Path:
    config = workdir / f"{name}.toml"
    config.write_text("\n".join([
        "[cosmic-ray]",
        f'module-path = "{target.module}"',
        f"timeout = {target.timeout}",
        "excluded-modules = []",
        f"test-command = {json.dumps(test_command(target))}",
        "[cosmic-ray.distributor]",
        'name = "local"', ""]))
    return config


def cosmic_ray(*args: str, cwd: Path) -> None:
    subprocess.run([str(Path(sys.executable).parent / "cosmic-ray"), *args], cwd=cwd, check=True)


def initialise(name: str, target: Target, workdir: Path, sample: int, seed: int) -> Path:
    """A fresh session: every mutant of the module, then those out of scope or of a left-out
    operator (or not in the sample) marked skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    src = workdir / "src"
    config, db = write_config(name, target, workdir), workdir / f"{name}.sqlite"
    if db.exists():
        db.unlink()
    cosmic_ray("init", str(config), str(db), cwd=src)
    lines = scoped_lines(src / target.module, target.scope)
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        kept, dropped = [], []
        for item in work_db.pending_work_items:
            (m,) = item.mutations
            wanted = KEPT_OPERATORS.match(m.operator_name) and (
                lines is None or m.start_pos[0] in lines)
            (kept if wanted else dropped).append(item.job_id)
        if sample and len(kept) > sample:
            chosen = set(random.Random(f"{seed}:{name}").sample(sorted(kept), sample))
            dropped += [j for j in kept if j not in chosen]
        work_db.set_multiple_results(dropped, WorkResult(output="not in this measurement",
                                                         worker_outcome=WorkerOutcome.SKIPPED))
    return db


def baseline(name: str, target: Target, workdir: Path) -> None:
    """The unmutated copy must pass its tests, importing the copy (not the editable install)."""
    src = workdir / "src"
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, os; sys.path.insert(0, os.getcwd()); "
         "import lowprec, models, validation; print(lowprec.__file__)"],
        cwd=src, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(probe).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"the copy under test is not what the tests import: {probe}")
    run = subprocess.run(test_command(target), shell=True, cwd=src)
    if run.returncode != 0:
        raise SystemExit(f"{name}: the tests fail without any mutation; fix that first")


def results(db: Path) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    out = {"killed": 0, "survived": [], "incompetent": [], "pending": 0, "skipped": 0}
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        done = {}
        for item, result in work_db.completed_work_items:
            done[item.job_id] = (item, result)
        out["pending"] = sum(1 for _ in work_db.pending_work_items)
    for item, result in done.values():
        (m,) = item.mutations
        where = f"{m.module_path}:{m.start_pos[0]} {m.operator_name.removeprefix('core/')}" \
                f"#{m.occurrence}"
        if result.worker_outcome == WorkerOutcome.SKIPPED:
            out["skipped"] += 1
        elif result.test_outcome == TestOutcome.SURVIVED:
            out["survived"].append({"job": item.job_id, "where": where, "diff": result.diff})
        elif result.test_outcome == TestOutcome.INCOMPETENT or \
                result.worker_outcome != WorkerOutcome.NORMAL:
            out["incompetent"].append({"job": item.job_id, "where": where})
        else:
            out["killed"] += 1
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def report(workdir: Path, names: list[str], verbose: bool) -> None:
    print(f"{'target':14s} {'tested':>6s} {'killed':>6s} {'incomp':>6s} {'surv':>5s} "
          f"{'score':>6s}  95 % interval   pending")
    for name in names:
        db = workdir / f"{name}.sqlite"
        if not db.exists():
            continue
        r = results(db)
        killed = r["killed"] + len(r["incompetent"])
        tested = killed + len(r["survived"])
        lo, hi = wilson(killed, tested)
        score = killed / tested if tested else math.nan
        print(f"{name:14s} {tested:6d} {r['killed']:6d} {len(r['incompetent']):6d} "
              f"{len(r['survived']):5d} {score:6.1%}  [{lo:.0%}, {hi:.0%}]  {r['pending']:7d}")
        if verbose:
            for s in r["survived"]:
                print(f"    SURVIVED {s['where']}  ({s['job']})")
                print("      " + "\n      ".join(line for line in (s["diff"] or "").splitlines()
                                                 if line.startswith(("+", "-"))
                                                 and not line.startswith(("+++", "---"))))
            for s in r["incompetent"]:
                print(f"    incompetent {s['where']}")


def retest(name: str, target: Target, workdir: Path) -> None:
    """Run the survivors of a finished session again, with the tests as they are now."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    db = workdir / f"{name}.sqlite"
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        survivors = [item.job_id for item, result in work_db.completed_work_items
                     if result.test_outcome == TestOutcome.SURVIVED]
        with work_db._session_maker.begin() as session:       # forget their results only
            from cosmic_ray.work_db import WorkResultStorage
            session.query(WorkResultStorage).filter(
                WorkResultStorage.job_id.in_(survivors)).delete(synchronize_session=False)
    print(f"{name}: re-testing {len(survivors)} survivor(s)")
    config = write_config(name, target, workdir)                # the target's tests as they are now
    cosmic_ray("exec", str(config), str(db), cwd=workdir / "src")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lowprec-mutation"))
    parser.add_argument("--sample", type=int, default=0,
                        help="test a seeded random sample of this many mutants per target (0: all)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--report", action="store_true", help="only report finished sessions")
    parser.add_argument("--retest", action="store_true",
                        help="re-run the survivors of finished sessions with the current tests")
    parser.add_argument("--init-only", action="store_true", help="count mutants, run nothing")
    parser.add_argument("--tests-from", metavar="COMMIT",
                        help="run the test files as they were at COMMIT (a 'before' measurement)")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    if unknown := [n for n in names if n not in TARGETS]:
        parser.error(f"unknown target(s) {unknown}: choose from {', '.join(TARGETS)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(args.workdir, names, verbose=True)
        return 0
    copy_repository(args.workdir / "src", args.tests_from)
    for name in names:
        target = TARGETS[name]
        if args.retest:
            retest(name, target, args.workdir)
            continue
        db = initialise(name, target, args.workdir, args.sample, args.seed)
        if args.init_only:
            continue
        baseline(name, target, args.workdir)
        cosmic_ray("exec", str(args.workdir / f"{name}.toml"), str(db), cwd=args.workdir / "src")
    report(args.workdir, names, verbose=not args.init_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
