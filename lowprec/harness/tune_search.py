"""The tuner's search over sbits for one component and mode, and its error control (pure logic).

A search looks for the fewest significand bits at which one precision component, the others in
double precision, leaves the model's output distributions indistinguishable from double
precision. Its candidates are the sbits ``low..high``; a *probe* at ``s`` gives a verdict, pass
(the validator's test does not reject "same climate as double") or fail.

Strategy (:func:`next_step`, a function of the verdicts so far, so a search replays exactly):

1. Coarse: the ladder ``high, high − step, ...`` down to ``low`` (``low`` included), probed at
   once.
2. Decide on the coarse verdicts: the response is *monotone* when every failing coarse point
   lies below every passing one (more bits never hurt, as far as the ladder shows).
3. Monotone: bisection inside the bracket (highest failing, lowest passing coarse point), one
   probe at a time, until the bracket is one bit wide: the choice is its upper end, a passing
   probe whose sbits − 1 failed.
4. Not monotone (a coarse point fails above a passing one): a fine scan, every sbits from the
   lowest passing coarse point up to the lowest passing coarse point above the highest failing
   one, probed at once; the choice is one above the highest failing sbits, which is among the
   probes and passed. A bisection there could stop in a passing pocket below a failure.

Ends: every coarse point passes: the choice is ``low`` (at the bottom of the range: fewer bits
may do). No coarse point passes, or none above the highest failure: no choice (``None``): the
component needs more than ``high`` bits and stays in double precision.

Error control (:func:`variable_level`): the whole tune makes at most T tests, T = (number of
searches) × (candidates per search) + (number of modes) × (combined attempts), each probe or
combined run being one test of V variables. Each variable's p-value is compared with
α / (T·V). By Bonferroni's inequality over every test the tune *could* make (every candidate
sbits of every search, every combined attempt, every variable), the probability that any
verdict "fails" is given to a configuration whose climate is double precision's is at most α:
the family-wise error rate of the whole tune, whatever order the probes are made in (bisection
and scans choose them from earlier verdicts), however the tests depend on each other (they
share the control and null runs), and whether or not the response is monotone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

COARSE, BISECT, FINE, DONE = "coarse", "bisect", "fine", "done"
FLOAT64_SBITS = 52


@dataclass(frozen=True)
class SearchRange:
    """The candidates ``low..high`` (inclusive) and the spacing of the coarse ladder."""

    low: int
    high: int
    coarse_step: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.high <= 51:
            raise ValueError(f"search range {self.low}..{self.high}: need 1 <= low <= high <= 51")
        if self.coarse_step < 1:
            raise ValueError(f"coarse_step = {self.coarse_step}: must be >= 1")

    @property
    def candidates(self) -> range:
        return range(self.low, self.high + 1)

    @property
    def coarse(self) -> tuple[int, ...]:
        """The coarse ladder, ascending: high, high − step, ... above low, and low."""
        return tuple(sorted({*range(self.high, self.low, -self.coarse_step), self.low}))


@dataclass(frozen=True)
class Step:
    """What a search does next: probe ``sbits`` (a ``stage``), or, when ``stage`` is "done",
    the ``chosen`` sbits (None: more than ``high`` needed)."""

    stage: str
    sbits: tuple[int, ...] = ()
    chosen: int | None = None
    monotone: bool | None = None     # on the coarse ladder; None before it is complete

    @property
    def done(self) -> bool:
        return self.stage == DONE


def coarse_is_monotone(r: SearchRange, verdicts: Mapping[int, bool]) -> bool:
    """True when every failing coarse point lies below every passing one."""
    fails = [s for s in r.coarse if not verdicts[s]]
    passes = [s for s in r.coarse if verdicts[s]]
    return not fails or not passes or max(fails) < min(passes)


def next_step(r: SearchRange, verdicts: Mapping[int, bool]) -> Step:
    """The next probes of a search given the verdicts so far (sbits → passed), or its result."""
    missing = tuple(s for s in r.coarse if s not in verdicts)
    if missing:
        return Step(COARSE, missing)
    monotone = coarse_is_monotone(r, verdicts)
    fails = [s for s in r.coarse if not verdicts[s]]
    passes = [s for s in r.coarse if verdicts[s]]
    if not passes:
        return Step(DONE, chosen=None, monotone=monotone)
    if not fails:
        return Step(DONE, chosen=r.low, monotone=monotone)
    if monotone:
        # Probes inside the coarse bracket came from this bisection: they keep it consistent.
        lo = max(s for s, ok in verdicts.items() if not ok and s < min(passes))
        hi = min(s for s, ok in verdicts.items() if ok and s > lo)
        if hi - lo == 1:
            return Step(DONE, chosen=hi, monotone=True)
        return Step(BISECT, ((lo + hi) // 2,), monotone=True)
    above = [s for s in passes if s > max(fails)]
    if not above:
        return Step(DONE, chosen=None, monotone=False)
    region = range(min(passes), min(above) + 1)
    todo = tuple(s for s in region if s not in verdicts)
    if todo:
        return Step(FINE, todo, monotone=False)
    return Step(DONE, chosen=max(s for s in region if not verdicts[s]) + 1, monotone=False)


def probes_left(r: SearchRange, verdicts: Mapping[int, bool]) -> tuple[int, int]:
    """(expected, at most) probes this search still makes.

    Expected: as if the response is monotone (coarse ladder, then bisection of the widest
    bracket the ladder can leave); at most: every candidate not yet probed.
    """
    step = next_step(r, verdicts)
    at_most = sum(s not in verdicts for s in r.candidates)
    if step.done:
        return 0, 0
    if step.stage == COARSE:
        ladder = r.coarse
        widest = max((b - a for a, b in zip(ladder, ladder[1:])), default=1)
        return len(step.sbits) + bisection_steps(widest), at_most
    if step.stage == BISECT:
        lo, hi = _bracket(verdicts, step.sbits[0])
        return bisection_steps(hi - lo), at_most
    return len(step.sbits), at_most


def _bracket(verdicts: Mapping[int, bool], mid: int) -> tuple[int, int]:
    lo = max(s for s, ok in verdicts.items() if not ok and s < mid)
    hi = min(s for s, ok in verdicts.items() if ok and s > mid)
    return lo, hi


def bisection_steps(width: int) -> int:
    """Probes a bisection makes to shrink a bracket (fail at lo, pass at lo + width) to one bit."""
    return math.ceil(math.log2(width)) if width > 1 else 0


# --------------------------------------------------------------------------------------------
# Error control

def family_size(n_searches: int, n_candidates: int, n_modes: int, combined_attempts: int) -> int:
    """T: the most tests a tune can make (module docstring)."""
    return n_searches * n_candidates + n_modes * combined_attempts


def variable_level(alpha: float, n_tests: int, n_variables: int) -> float:
    """The level of each variable's p-value in each test: α / (T·V) (Bonferroni)."""
    return alpha / (n_tests * n_variables)


# The tests a probe can use, on each member's global distance to the controls, d(member):
# "permutation": the validator's exact two-sample permutation test (validation.significance),
#     setting members against null members; valid whatever the pairing, and conservative when
#     a setting member and the null member started from the same state stay close.
# "paired": an exact sign-flip permutation test of the paired differences d(setting m) −
#     d(null m): member m of every setting starts from the same restart (or seed) as null member
#     m, so the pair shares whatever that state does to its distance from the controls. Valid
#     when, under the null hypothesis, the two runs of a pair are exchangeable (a rounding
#     perturbation is as likely to move a run toward the controls as away); far more powerful
#     when runs are short against the flow's memory. Smallest p-value 2^-N instead of 1/C(2N, N).
TESTS = ("permutation", "paired")
MAX_SIGN_FLIPS = 2 ** 16        # the paired test is exact up to N = 16 members


def paired_pvalue(setting: np.ndarray, null: np.ndarray, max_flips: int = MAX_SIGN_FLIPS,
                  seed: int = 0) -> float:
    """One-sided sign-flip permutation p-value of mean(setting − null) > 0, members paired.

    The fraction of the 2^N sign vectors s whose Σ s_m·Δ_m is at least the observed Σ Δ_m
    (the observed included; ties to 1e-12 relative count), Δ = setting − null. Beyond
    ``max_flips`` vectors a seeded random subset is used, p = (1 + #{≥}) / (1 + B).
    """
    diff = np.asarray(setting, np.float64) - np.asarray(null, np.float64)
    n = diff.size
    if 2 ** n <= max_flips:
        flips = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        sums = (1 - 2 * flips) @ diff
        exact = True
    else:
        flips = np.random.default_rng(seed).integers(0, 2, size=(max_flips, n))
        sums = (1 - 2 * flips) @ diff
        exact = False
    at_least = np.count_nonzero(sums >= diff.sum() - 1e-12 * np.abs(diff).sum())
    return at_least / sums.size if exact else (1 + at_least) / (1 + sums.size)


def smallest_pvalue(members: int, max_relabellings: int, test: str = "permutation") -> float:
    """The smallest p-value a probe's test can give with N members (and N null members)."""
    if test == "paired":
        return 2.0 ** -members if 2 ** members <= MAX_SIGN_FLIPS else 1 / (1 + MAX_SIGN_FLIPS)
    from validation.significance import min_pvalue
    return min_pvalue(members, members, max_relabellings)


def members_needed(level: float, max_relabellings: int, test: str = "permutation",
                   limit: int = 64) -> int | None:
    """The fewest members N whose smallest attainable p-value is at most ``level`` (None: > limit)."""
    for n in range(2, limit + 1):
        if smallest_pvalue(n, max_relabellings, test) <= level:
            return n
    return None


# --------------------------------------------------------------------------------------------
# The combined configuration

def widen(current: Mapping[str, int], excess: Mapping[str, Mapping[int, float]],
          high: int) -> tuple[str, int] | None:
    """After a failed combined validation: which component gets one more bit, and its new sbits.

    current: sbits of each tuned component (52: double precision, left alone).
    excess: per component, the standardised excess (excess / standard error, the largest over
        the variables) of its own probes, by sbits.
    The component whose standardised excess at its current sbits is largest: from its probe
    there, or, where none was made (bits were added since), from the nearest probe below,
    halved for each bit above it (a rounding error, and about so the excess, halves per bit).
    Ties go to the first component in ``current``'s order. The new sbits is one more, or 52
    (double) past ``high``. None when no component can be widened.
    """
    best, best_z = None, -math.inf
    for c, s in current.items():
        below = [t for t in excess.get(c, {}) if t <= s]
        if s >= FLOAT64_SBITS or not below:
            continue
        nearest = max(below)
        z = excess[c][nearest] / 2 ** (s - nearest)
        if z > best_z:
            best, best_z = c, z
    if best is None:
        return None
    return best, current[best] + 1 if current[best] < high else FLOAT64_SBITS
