"""`lowprec tune`: the fewest significand bits each precision component needs, found by probes.

For every component a model declares (or those named) and every rounding mode, a search over
sbits (:mod:`lowprec.harness.tune_search`: a coarse ladder, then bisection where the response
is monotone, a fine scan where it is not) with the other components in double precision. Each
*probe* is a small sweep on the existing machinery (:func:`lowprec.sweep`): N members at one
sbits, started like the double-precision control and null runs (the same restarts, the same
seeds), scored by the validator (:func:`validation.evaluate`: global W1 per member) and its
exact permutation test (:func:`validation.permutation_pvalues`; or a paired sign-flip test,
``test = "paired"``) at the level that keeps the family-wise error rate of the whole tune at α
(tune_search's docstring says how). The design (the [tune] section, the sweeps' experiments, the
design check) is in :mod:`lowprec.harness.tune_design`; the outputs in
:mod:`lowprec.harness.tune_report`. Then, per
mode, the combined mixed-precision configuration is validated the same way; where it fails, a bit
is added to the component with the largest standardised excess, until it passes.

An experiment file with a ``[tune]`` section (every key optional)::

    [tune]
    components = ["tendencies", "prognostic"]   # default: every component the model declares
    modes = ["nearest", "stochastic"]           # default: both
    sbits = "4:23"              # candidates low:high, inclusive (or {start = 4, stop = 23})
    coarse_step = 4             # spacing of the coarse ladder
    controls = 5                # M double-precision controls (default: [sweep] controls, else 5)
    members = 8                 # N members of every probe and of the null (default: [sweep]
                                # members, else the fewest whose smallest p-value reaches the level)
    restarts = "spinup-dir"     # members start from `lowprec spinup` restarts (default: [sweep])
    alpha = 0.05                # family-wise error rate of the whole tune
    variables = ["u", "v"]      # scored outputs (default: every output the runs write)
    spinup = 0                  # leading outputs the validator discards
    combined_attempts = 4       # most validations of the combined configuration, per mode
    test = "permutation"        # or "paired": the probes' test (tune_search.TESTS says which when)
    output = "tune-dir"         # default output directory of the command line

The config's ``[precision]`` keeps its seed, policy, ebits and subnormals; its sbits, mode and
components are the tuner's to set. Components not tuned stay in double precision throughout.
Code outside every component (none in the bundled models; the design check looks) runs at the
probe's sbits, and in the combined runs at the widest tuned format.

Layout of the output directory::

    tune.json                       state: design, every probe's statistics and verdict
    tune.toml                       the resolved experiment, with its [tune] section
    double/                         the control and null runs: a sweep, made once
    probes/<component>/<mode>/<step>/   one sweep per step of a search (coarse, bisect_sb<s>,
                                    fine), the double runs linked into its runs/
    combined/<mode>/attempt<k>/     one sweep per combined configuration
    tune.nc                         every probe's statistics (CF-1.11)
    precision_<mode>.toml           the ready [precision.components] block of each mode
    report.md, report/*.png         the report and its figures

Resumable as sweeps are: a probe's result is written to tune.json as soon as it is validated, and
a rerun replays the searches from it (each search is a function of its verdicts), so no finished
probe is recomputed and a probe killed half-way resumes its sweep (finished runs are kept).
Distributed as sweeps are: one dask cluster for the whole tune (``scheduler`` as in
:func:`lowprec.sweep`); each step of a search (a coarse ladder or fine scan: all its probes)
is one sweep whose runs spread over the cluster.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from lowprec.errors import ConfigError, LowprecError
from lowprec.harness import tune_search
from lowprec.harness.tune_design import (CONTROL_MODE, FLOAT64_SBITS, MAX_RELABELLINGS,
                                         DesignCheck, TuneSpec, check_design, combined_base,
                                         combined_config, double_config, load_tune, probe_config)
from lowprec.harness.tune_design import _hms

STATE = "tune.json"
RESOLVED = "tune.toml"
SERIAL = ("serial", "synchronous", "sync")


class TuneError(LowprecError, RuntimeError):
    """A tune that cannot go on (runs of a probe failed)."""


# --------------------------------------------------------------------------------------------
# One probe's statistics and verdict

def _num(x: Any) -> float | None:
    """A float for JSON: None for NaN."""
    x = float(x)
    return x if math.isfinite(x) else None


def probe_statistics(directory: Path, sbits: list[int], mode: str, spec: TuneSpec
                     ) -> dict[int, dict[str, Any]]:
    """Validate the settings (s, mode), s in ``sbits``, of the sweep in ``directory`` against its
    null: one record (statistics and verdict) per sbits.

    The validator (:func:`validation.evaluate`) gives each member's global W1 from the controls,
    per variable. Both tests of tune_search.TESTS are computed: the validator's exact permutation
    test of the setting's members against the null members (:func:`validation.
    permutation_pvalues`, as its ``pvalue_global``), and the paired sign-flip test; ``spec.test``
    decides. A probe fails when a run blew up or some variable's p-value is at most
    ``spec.level``.
    """
    import validation
    from lowprec.harness.sweep import open_sweep
    ds = open_sweep(directory)
    ds = ds.sel(sbits=sorted({*sbits, FLOAT64_SBITS}), mode=list(dict.fromkeys([CONTROL_MODE, mode])))
    res = validation.evaluate(ds, list(spec.variables), spinup=spec.spinup, pvalues=False, windows=0)
    return {s: _setting_record(res, s, mode, spec, directory) for s in sbits}


def _setting_record(res: Any, sbits: int, mode: str, spec: TuneSpec, directory: Path
                    ) -> dict[str, Any]:
    """One setting's statistics and verdict, from evaluate's results ``res``."""
    import validation
    where = {"sbits": sbits, "mode": mode}
    double = {"sbits": FLOAT64_SBITS, "mode": CONTROL_MODE}
    blown = int(res["blown_up"].sel(where).sum())
    present = int(res["run_present"].sel(where).sum())
    variables: dict[str, dict[str, Any]] = {}
    for v in spec.variables:
        per_member = res[f"w1_global_member_{v}"]
        setting = per_member.sel(where).values
        null = per_member.sel(double).values
        usable = np.isfinite(setting)
        scored = blown == 0 and usable.sum() >= 2
        p = {"permutation": float(validation.permutation_pvalues(setting[usable], null,
                                                                  MAX_RELABELLINGS)),
             "paired": tune_search.paired_pvalue(setting[usable], null[usable])} if scored else {}
        # s.e. of a difference of two ensemble means, from the null members' spread; and of the
        # mean paired difference
        se = float(np.std(null, ddof=1) * math.sqrt(1 / len(null) + 1 / max(usable.sum(), 1)))
        diff = setting[usable] - null[usable]
        paired_se = float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
        w1, w1_null = float(res[f"w1_global_{v}"].sel(where)), float(res[f"w1_global_null_{v}"])
        variables[v] = {
            "w1_global": _num(w1), "w1_global_null": _num(w1_null), "excess": _num(w1 - w1_null),
            "ratio": _num(w1 / w1_null) if w1_null > 0 else None, "se": _num(se),
            "mean_bias": _num(res[f"mean_bias_{v}"].sel(where)),
            "mean_bias_null": _num(res[f"mean_bias_null_{v}"]), "paired_se": _num(paired_se),
            "pvalue": _num(p.get(spec.test, math.nan)),
            "pvalue_permutation": _num(p.get("permutation", math.nan)),
            "pvalue_paired": _num(p.get("paired", math.nan)),
            "members": [_num(x) for x in setting], "null_members": [_num(x) for x in null],
            "units": str(res[f"w1_global_{v}"].attrs.get("units", "1"))}
    pvalues = {v: s["pvalue"] for v, s in variables.items() if s["pvalue"] is not None}
    min_p = min(pvalues.values()) if pvalues else None
    if blown:
        verdict, reason = "fail", f"{blown} of {present} runs blew up"
    elif len(pvalues) < len(variables):
        raise TuneError(f"{directory}: sbits {sbits} {mode}: fewer than 2 usable runs; the sweep "
                        "is incomplete (see its sweep.json)")
    else:
        worst = min(pvalues, key=pvalues.get)
        verdict = "fail" if min_p <= spec.level else "pass"
        reason = f"{worst}: p = {min_p:.3g} {'<=' if verdict == 'fail' else '>'} {spec.level:.3g}"
    return {"sbits": sbits, "mode": mode, "verdict": verdict, "reason": reason, "min_pvalue": min_p,
            "blown_up": blown, "runs": present, "level": spec.level, "test": spec.test,
            "variables": variables}


def standardised_excess(record: Mapping[str, Any]) -> float:
    """The largest excess over its standard error among a probe's variables (−inf if none):
    the s.e. of a difference of ensemble means, or of the mean paired difference (paired test)."""
    key = "paired_se" if record.get("test") == "paired" else "se"
    z = [s["excess"] / s[key] for s in record["variables"].values()
         if s["excess"] is not None and s[key]]
    return max(z) if z else -math.inf


# --------------------------------------------------------------------------------------------
# State (tune.json), results, progress

@dataclass(frozen=True)
class SearchResult:
    """One search's outcome: ``chosen`` sbits (None: more than the range's high), how found."""

    component: str
    mode: str
    chosen: int | None
    monotone: bool | None
    strategy: str                   # "coarse ladder" | "bisection" | "fine scan"
    probes: tuple[int, ...]         # sbits probed, in the order their verdicts came


@dataclass(frozen=True)
class CombinedResult:
    """The combined configuration of one mode: the attempts and the final components."""

    mode: str
    passed: bool
    components: dict[str, int]      # final sbits per tuned component (52: double)
    attempts: tuple[dict, ...]      # the probe records of each attempt


@dataclass
class TuneResult:
    """What a tune found, and where it wrote it."""

    outdir: Path
    design: DesignCheck
    searches: dict[tuple[str, str], SearchResult]
    combined: dict[str, CombinedResult]
    spec: TuneSpec | None = None
    files: dict[str, Path] = field(default_factory=dict)
    computed: int = 0               # probes computed by this call
    reused: int = 0                 # probes found finished in tune.json

    def chosen(self, mode: str) -> dict[str, int | None]:
        """Each tuned component's sbits from its own search (None: more than the range)."""
        return {c: r.chosen for (c, m), r in self.searches.items() if m == mode}

    def summary(self) -> str:
        lines = [f"tune {self.outdir}: {self.computed} probes computed, {self.reused} already done"]
        low, high = (self.spec.range.low, self.spec.range.high) if self.spec else (None, None)
        for mode, comb in self.combined.items():
            alone = ", ".join(f"{c} {f'> {high}' if s is None else f'<= {s}' if s == low else s}"
                              for c, s in self.chosen(mode).items())
            final = ", ".join(f"{c} {s}" for c, s in comb.components.items())
            verdict = "passes" if comb.passed else "NOT CONFIRMED"
            lines.append(f"  {mode}: alone {alone}; combined [{final}] {verdict} "
                         f"after {len(comb.attempts)} attempt(s)")
        for name, path in self.files.items():
            lines.append(f"  {name}: {path}")
        return "\n".join(lines)


def _fingerprint(exp: Any, spec: TuneSpec) -> str:
    """The resolved experiment and tune design as TOML: a tune directory holds one of these."""
    import tomli_w
    d = dataclasses.replace(exp, sweep=None).to_dict()
    d["tune"] = {k: v for k, v in spec.to_dict().items() if k != "output"}
    return tomli_w.dumps(d)


class _State:
    """tune.json: the design, and each probe's record, written atomically after each change."""

    def __init__(self, outdir: Path, fingerprint: str) -> None:
        from lowprec import __version__
        self.path = outdir / STATE
        data = json.loads(self.path.read_text()) if self.path.exists() else None
        if data is not None and data.get("fingerprint") != fingerprint:
            from lowprec.harness.sweep import config_differences
            diffs = config_differences(data.get("fingerprint", ""), fingerprint)
            raise ConfigError(f"{outdir} holds a tune of another experiment or design "
                              f"({'; '.join(diffs)}); its probes would not answer this one. Use "
                              "another output directory, or delete this one to start again.")
        self.data = data or {"lowprec_version": __version__, "created": _now(),
                             "fingerprint": fingerprint, "probes": {}}

    def get(self, key: str) -> dict | None:
        return self.data["probes"].get(key)

    def probes(self) -> dict[str, dict]:
        return dict(self.data["probes"])

    def put(self, key: str, record: dict) -> int:
        """Record a probe; returns its index (the order of verdicts)."""
        record["index"] = len(self.data["probes"])
        self.data["probes"][key] = record
        self._write()
        return record["index"]

    def set(self, name: str, value: Any) -> None:
        self.data[name] = value
        self._write()

    def _write(self) -> None:
        from lowprec.harness.sweep import write_json_atomic
        self.data["updated"] = _now()
        write_json_atomic(self.data, self.path)


def _now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def probe_key(component: str, mode: str, sbits: int) -> str:
    return f"{component}/{mode}/{sbits}"


def combined_key(mode: str, attempt: int) -> str:
    return f"combined/{mode}/{attempt}"


class _Progress:
    """stderr lines: one per finished run, one per validated probe with probes left and ETA."""

    def __init__(self, label: str, quiet: bool, stream: Any = None) -> None:
        self.label, self.quiet = label, quiet
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.computed = 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"tune {self.label}: {text}", file=self.stream, flush=True)

    def run(self, what: str) -> Any:
        def done(key: Any, outcome: Mapping[str, Any]) -> None:
            seconds = outcome.get("seconds")
            self.say(f"{what}: run {key.name} {outcome.get('status')}"
                     + (f" in {seconds:.1f} s" if seconds is not None else ""))
        return done

    def probe(self, what: str, record: Mapping[str, Any], done: int, left: tuple[int, int]) -> None:
        self.computed += 1
        elapsed = time.monotonic() - self.start
        eta = _hms(elapsed / self.computed * left[0])
        self.say(f"{what}: {record['verdict'].upper()} ({record['reason']}) | {done} probes done, "
                 f"about {left[0]} left (at most {left[1]}) | elapsed {_hms(elapsed)}, ETA {eta}")


# --------------------------------------------------------------------------------------------
# Running the probes

@contextlib.contextmanager
def _cluster(scheduler: Any, workers: int | None) -> Iterator[tuple[Any, int | None]]:
    """(scheduler for lowprec.sweep, worker count): one cluster for the whole tune."""
    if isinstance(scheduler, str) and scheduler in SERIAL:
        yield "serial", 1
        return
    from distributed import Client, LocalCluster
    if isinstance(scheduler, Client):
        yield scheduler, sum(scheduler.nthreads().values())
        return
    if scheduler is None or scheduler == "local":
        n = workers or os.cpu_count() or 1
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client, n
        return
    if not isinstance(scheduler, str):
        raise ConfigError(f"scheduler = {scheduler!r}: use None (a LocalCluster), 'serial', an "
                          "address such as 'tcp://host:8786', or a distributed.Client")
    with Client(scheduler) as client:
        yield client, sum(client.nthreads().values())


@contextlib.contextmanager
def _tune_lock(outdir: Path) -> Iterator[None]:
    """One tune at a time per directory; the OS drops the lock if the process dies."""
    try:
        import fcntl
    except ImportError:                     # not POSIX: no lock
        yield
        return
    with open(outdir / ".tune.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{outdir} is in use by another running tune; wait for it to "
                              "finish or use another output directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Tuner:
    """The probes of one tune: the double runs, the searches, the combined configurations."""

    def __init__(self, exp: Any, spec: TuneSpec, outdir: Path, scheduler: Any, state: _State,
                 progress: _Progress, retry_failed: bool) -> None:
        self.exp, self.spec, self.outdir, self.scheduler = exp, spec, outdir, scheduler
        self.state, self.progress, self.retry_failed = state, progress, retry_failed
        self.double_files: list[Path] = []

    # --- sweeps
    def _sweep(self, config: dict, directory: Path, what: str) -> None:
        from lowprec.harness.sweep import sweep
        result = sweep(config, directory, scheduler=self.scheduler, quiet=True,
                       retry_failed=self.retry_failed, on_run_done=self.progress.run(what))
        if result.failed or result.pending:
            names = ", ".join(r["name"] for r in result.failed) or f"{result.pending} not run"
            raise TuneError(f"{what}: runs failed in {directory} ({names}; errors in "
                            f"{directory / 'sweep.json'}). Fix the cause and run the tune again "
                            "(failed runs are retried with --retry-failed); finished probes are kept.")

    def double_runs(self) -> None:
        """The M controls and the N null members, once, in double/."""
        from lowprec.harness.sweep import plan
        config = double_config(self.exp, self.spec)
        self._sweep(config, self.outdir / "double", "double precision")
        runs = self.outdir / "double" / "runs"
        self.double_files = [runs / key.filename for key in plan(config)]

    def _link_double_runs(self, directory: Path) -> None:
        """The double runs into a probe's sweep directory (its runs/), so none is recomputed."""
        runs = directory / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        for source in self.double_files:
            target = runs / source.name
            if target.exists():
                continue
            try:
                os.link(source, target)
            except OSError:                 # another file system: a copy, renamed into place
                partial = target.with_name(target.name + ".partial")
                shutil.copy2(source, partial)
                os.replace(partial, target)

    def _validated(self, directory: Path, mode: str, probes: list[tuple[str, int, dict, str]]
                   ) -> list[dict]:
        """Validate a sweep's probes, (key, sbits, extra fields, label) each; record each."""
        records = probe_statistics(directory, [s for _, s, _, _ in probes], mode, self.spec)
        for key, sbits, extra, what in probes:
            record = {**records[sbits], **extra}
            self.state.put(key, record)
            self.progress.probe(what, record, len(self.state.probes()), self.left())
        return [self.state.get(key) for key, _, _, _ in probes]

    # --- searches
    def verdicts(self, component: str, mode: str) -> dict[int, bool]:
        prefix = f"{component}/{mode}/"
        return {r["sbits"]: r["verdict"] == "pass" for k, r in self.state.probes().items()
                if k.startswith(prefix)}

    def search(self, component: str, mode: str) -> SearchResult:
        """Probe until the search of (component, mode) is done (tune_search.next_step).

        Each step's probes are one sweep (a coarse ladder or a fine scan: every sbits at once;
        a bisection: one), in a directory named after the step, so a step resumed with some of
        its probes already validated reuses its runs.
        """
        r = self.spec.range
        while not (step := tune_search.next_step(r, self.verdicts(component, mode))).done:
            name = step.stage if len(step.sbits) > 1 or step.stage != tune_search.BISECT \
                else f"{step.stage}_sb{step.sbits[0]}"
            directory = self.outdir / "probes" / component / mode / name
            self._link_double_runs(directory)
            what = f"{component}/{mode} {step.stage}"
            self._sweep(probe_config(self.exp, self.spec, component, list(step.sbits), mode),
                        directory, f"{what} {list(step.sbits)}")
            self._validated(directory, mode, [
                (probe_key(component, mode, s), s, {"component": component, "stage": step.stage,
                                                    "components": {component: s}},
                 f"{what}: sbits {s}") for s in step.sbits])
        prefix = f"{component}/{mode}/"
        order = sorted((rec["index"], rec["sbits"], rec["stage"])
                       for k, rec in self.state.probes().items() if k.startswith(prefix))
        stages = {stage for _, _, stage in order}
        strategy = ("fine scan" if tune_search.FINE in stages else
                    "bisection" if tune_search.BISECT in stages else "coarse ladder")
        return SearchResult(component, mode, step.chosen, step.monotone, strategy,
                            tuple(s for _, s, _ in order))

    def left(self) -> tuple[int, int]:
        """(expected, at most) probes still to make, over every search and combined stage."""
        expected = at_most = 0
        for c, m in self.spec.searches:
            e, a = tune_search.probes_left(self.spec.range, self.verdicts(c, m))
            expected, at_most = expected + e, at_most + a
        probes = self.state.probes()
        for m in self.spec.modes:
            done = [r for k, r in probes.items() if k.startswith(f"combined/{m}/")]
            if not any(r["verdict"] == "pass" for r in done):
                expected += 1
                at_most += self.spec.combined_attempts - len(done)
        return expected, at_most

    # --- the combined configuration
    def combined(self, mode: str, searches: Mapping[tuple[str, str], SearchResult]) -> CombinedResult:
        """Validate the components together at their chosen sbits; add bits until it passes."""
        high = self.spec.range.high
        current = {c: (searches[(c, mode)].chosen or FLOAT64_SBITS) for c in self.spec.components}
        attempts: list[dict] = []
        for attempt in range(1, self.spec.combined_attempts + 1):
            base = combined_base(current)
            if base is None:                # every component in double: nothing to confirm
                return CombinedResult(mode, True, current, tuple(attempts))
            key = combined_key(mode, attempt)
            record = self.state.get(key)
            if record is None:
                directory = self.outdir / "combined" / mode / f"attempt{attempt}"
                self._link_double_runs(directory)
                what = f"combined/{mode} attempt {attempt} {current}"
                self._sweep(combined_config(self.exp, self.spec, current, mode), directory, what)
                record, = self._validated(directory, mode, [
                    (key, base, {"component": "combined", "stage": "combined",
                                 "attempt": attempt, "components": dict(current)}, what)])
            elif record["components"] != current:
                raise TuneError(f"{self.state.path}: {key} was made with {record['components']}, "
                                f"but replaying the tune gives {current}; the directory is "
                                "inconsistent: use another output directory")
            attempts.append(record)
            if record["verdict"] == "pass":
                return CombinedResult(mode, True, current, tuple(attempts))
            excess: dict[str, dict[int, float]] = {}
            for r in self.state.probes().values():
                if r["component"] in current and r["mode"] == mode:
                    excess.setdefault(r["component"], {})[r["sbits"]] = standardised_excess(r)
            widened = tune_search.widen(current, excess, high)
            if widened is None:
                break
            current = {**current, widened[0]: widened[1]}
        return CombinedResult(mode, False, current, tuple(attempts))

    # --- all of it
    def run_all(self) -> tuple[dict, dict]:
        """Every search, then every mode's combined configuration.

        One sweep at a time (its runs spread over the cluster): the sweeps' bookkeeping reads
        netCDF files, and the netCDF library must not be entered from two threads at once.
        """
        searches = {s: self.search(*s) for s in self.spec.searches}
        return searches, {m: self.combined(m, searches) for m in self.spec.modes}


def tune(config: Any, outdir: Path | str, *, scheduler: Any = None, workers: int | None = None,
         quiet: bool = False, retry_failed: bool = False,
         overrides: Mapping[str, Any] | None = None) -> TuneResult:
    """Find the fewest sbits of every precision component, per mode, and confirm them together.

    config: a TOML path, TOML text or dict: an experiment with a ``[tune]`` section (module
        docstring; every key has a default).
    outdir: the tune directory (made if absent; a rerun resumes it).
    scheduler, workers: as :func:`lowprec.sweep`: None (a LocalCluster of ``workers`` processes),
        "serial", a scheduler address, or a ``distributed.Client``; one for the whole tune.
    retry_failed: rerun runs recorded as failed in a probe's sweep.
    overrides: dotted keys set before validation (``{"tune.members": 6}``).

    The design check runs first (:func:`check_design`); ConfigError if the test cannot reach
    its level with the members given. Raises TuneError when runs of a probe fail (finished probes
    are kept). Writes tune.json, tune.nc, precision_<mode>.toml, report.md and report/*.png.
    """
    from lowprec.harness import tune_report
    exp, spec = load_tune(config, overrides)
    shown, outdir = Path(outdir), Path(os.path.abspath(outdir))
    local = scheduler is None or scheduler == "local"
    serial = isinstance(scheduler, str) and scheduler in SERIAL
    known_workers = 1 if serial else (workers or os.cpu_count()) if local else None
    check = check_design(exp, spec, workers=known_workers)
    progress = _Progress(f"{exp.model} ({shown})", quiet)
    for line in check.summary().splitlines():
        progress.say(line)
    if not check.ok:
        raise ConfigError(check.problem())
    outdir.mkdir(parents=True, exist_ok=True)
    with _tune_lock(outdir):
        state = _State(outdir, _fingerprint(exp, spec))
        reused = len(state.probes())
        from lowprec.harness.store import write_text_atomic
        write_text_atomic(_fingerprint(exp, spec), outdir / RESOLVED)
        state.set("design_check", check.to_dict())
        with _cluster(scheduler, workers) as (sched, _):
            tuner = _Tuner(exp, spec, outdir, sched, state, progress, retry_failed)
            tuner.double_runs()
            searches, combined = tuner.run_all()
        result = TuneResult(shown, check, searches, combined, spec, computed=progress.computed,
                            reused=reused)
        result.files = tune_report.write_outputs(outdir, exp, spec, state.data, result)
    if not quiet:
        print(result.summary(), file=sys.stderr, flush=True)
    return result
