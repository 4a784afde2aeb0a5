"""The tuner's search strategy and error control, against brute force and exact counts.

The search is a pure function of the verdicts so far; here the verdicts come from oracles
(a threshold, a set of failing sbits, random p-values), so every answer has an independent check.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lowprec.harness import tune_search as ts
from lowprec.harness.tune_search import SearchRange


def run_search(r: SearchRange, passes) -> tuple[ts.Step, list[tuple[str, int]]]:
    """Drive a search with the oracle passes(sbits) -> bool; the final step and the probes made."""
    verdicts: dict[int, bool] = {}
    made: list[tuple[str, int]] = []
    for _ in range(200):
        step = ts.next_step(r, verdicts)
        if step.done:
            return step, made
        assert step.sbits and not set(step.sbits) & set(verdicts), "probes a point twice"
        assert set(step.sbits) <= set(r.candidates), "probes outside the range"
        for s in step.sbits:
            verdicts[s] = passes(s)
            made.append((step.stage, s))
    raise AssertionError("the search did not end")


def test_coarse_ladder_spans_the_range_from_the_top():
    assert SearchRange(4, 23, 4).coarse == (4, 7, 11, 15, 19, 23)
    assert SearchRange(2, 16, 4).coarse == (2, 4, 8, 12, 16)
    assert SearchRange(5, 5, 4).coarse == (5,)
    assert SearchRange(3, 10, 1).coarse == tuple(range(3, 11))


def test_a_threshold_is_found_by_the_ladder_then_bisection_in_this_order():
    step, made = run_search(SearchRange(4, 23, 4), lambda s: s >= 10)
    assert step.chosen == 10 and step.monotone
    assert made == [("coarse", s) for s in (4, 7, 11, 15, 19, 23)] + [("bisect", 9), ("bisect", 10)]


@given(low=st.integers(1, 30), width=st.integers(0, 21), step=st.integers(1, 8),
       k=st.integers(0, 60))
@settings(max_examples=300, deadline=None)
def test_every_monotone_response_gives_its_threshold(low, width, step, k):
    """passes(s) = s >= k: the search returns k (low if k <= low; None if k > high), within the
    probes the ladder and a bisection of its widest gap allow."""
    r = SearchRange(low, min(low + width, 51), step)
    result, made = run_search(r, lambda s: s >= k)
    expected = None if k > r.high else max(k, r.low)
    assert result.chosen == expected
    assert result.monotone
    gaps = [b - a for a, b in zip(r.coarse, r.coarse[1:])] or [1]
    assert len(made) <= len(r.coarse) + ts.bisection_steps(max(gaps))
    assert ts.probes_left(r, {}) == (len(r.coarse) + ts.bisection_steps(max(gaps)),
                                     len(r.candidates))


@given(fails=st.sets(st.integers(1, 30)), low=st.integers(1, 10), width=st.integers(1, 20),
       step=st.integers(2, 6))
@settings(max_examples=300, deadline=None)
def test_any_response_gives_a_choice_its_own_verdicts_support(fails, low, width, step):
    """Whatever the response: the chosen sbits passed, no probe at or above it failed, and the
    sbits just below it was probed and failed (unless it is the range's bottom)."""
    r = SearchRange(low, low + width, step)
    result, made = run_search(r, lambda s: s not in fails)
    verdict = {s: s not in fails for _, s in made}
    if result.chosen is None:
        assert not any(verdict[s] for s in r.coarse if s > max(s for s in r.coarse if not verdict[s]))
        return
    assert verdict[result.chosen]
    assert all(ok for s, ok in verdict.items() if s >= result.chosen)
    assert result.chosen == r.low or verdict.get(result.chosen - 1) is False


def test_a_failing_pocket_above_a_pass_is_scanned_finely():
    """Fails only for 6 <= s < 9 (as the toy's window component): the ladder 2, 4, 8, 12, 16 is
    not monotone (8 fails above 4), so every sbits from 2 to 12 is probed, and the choice is 9."""
    r = SearchRange(2, 16, 4)
    result, made = run_search(r, lambda s: not 6 <= s < 9)
    assert result.chosen == 9 and result.monotone is False
    assert [s for stage, s in made if stage == "fine"] == [3, 5, 6, 7, 9, 10, 11]
    # a threshold in the same range is monotone: bisection, no scan
    monotone, made = run_search(r, lambda s: s >= 5)
    assert monotone.monotone is True and monotone.chosen == 5
    assert {stage for stage, _ in made} == {"coarse", "bisect"}


def test_probes_left_shrinks_to_zero_and_never_exceeds_its_bound():
    r = SearchRange(4, 23, 4)
    verdicts: dict[int, bool] = {}
    previous = ts.probes_left(r, verdicts)
    while not (step := ts.next_step(r, verdicts)).done:
        for s in step.sbits:
            verdicts[s] = s >= 13
        left = ts.probes_left(r, verdicts)
        assert left[0] <= left[1] and left[1] < previous[1]
        previous = left
    assert previous == (0, 0)


def test_members_needed_is_the_fewest_reaching_the_level():
    """Against math.comb: 1/C(2N, N) <= level, and not for N - 1."""
    for level in (0.05, 0.01, 1e-3, 1.3e-4, 2e-5):
        n = ts.members_needed(level, max_relabellings=10**9)
        assert 1 / math.comb(2 * n, n) <= level < 1 / math.comb(2 * n - 2, n - 1)
    # beyond max_relabellings the sampled test's floor 1/(1 + B) decides
    assert ts.smallest_pvalue(12, max_relabellings=1000) == 1 / 1001
    assert ts.members_needed(1e-4, max_relabellings=1000) is None


def test_family_size_and_level():
    assert ts.family_size(n_searches=6, n_candidates=20, n_modes=2, combined_attempts=3) == 126
    assert ts.variable_level(0.05, 126, 3) == pytest.approx(0.05 / 378)


def _tune_fwer(level: float, n_searches: int, r: SearchRange, rng: np.random.Generator,
               replicates: int) -> float:
    """Fraction of simulated tunes with any 'fail' when every candidate is null."""
    any_fail = 0
    for _ in range(replicates):
        failed = False
        for _ in range(n_searches):
            p = dict(zip(r.candidates, rng.uniform(size=len(r.candidates))))
            _, made = run_search(r, lambda s: p[s] > level)
            failed |= any(p[s] <= level for _, s in made)
        any_fail += failed
    return any_fail / replicates


def test_under_the_complete_null_the_whole_tune_errs_at_most_alpha():
    """Every candidate of 4 searches is null (uniform p-values, independent): with the level
    α/T the fraction of tunes giving any 'fail' stays below α (bound: α + 3 s.e. of the
    estimate, 2000 replicates); at the uncorrected level α it is far above α."""
    r, searches, alpha = SearchRange(4, 15, 4), 4, 0.05
    level = ts.variable_level(alpha, ts.family_size(searches, len(r.candidates), 1, 1), 1)
    rng = np.random.default_rng(12)
    n = 2000
    assert _tune_fwer(level, searches, r, rng, n) <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)
    assert _tune_fwer(alpha, searches, r, rng, 400) > 2 * alpha


def test_widen_gives_the_bit_to_the_largest_standardised_excess():
    excess = {"a": {5: 0.5, 6: -1.0}, "b": {9: 1.0, 10: 1.5}, "c": {3: 9.0}}
    # at the probed points: b (1.5) beats a (0.5); c is in double precision and left alone
    assert ts.widen({"a": 5, "b": 10, "c": 52}, excess, high=23) == ("b", 11)
    # b at 12 has no probe: its excess at 10 halved twice, 0.375 < a's 0.5
    assert ts.widen({"a": 5, "b": 12, "c": 52}, excess, high=23) == ("a", 6)
    # ties go to the first component; past the range's top a component goes to double
    assert ts.widen({"a": 6, "b": 23}, {"a": {6: 0.0}, "b": {23: 0.0}}, high=23) == ("a", 7)
    assert ts.widen({"b": 23}, {"b": {23: 0.0}}, high=23) == ("b", 52)
    assert ts.widen({"a": 52, "b": 52}, excess, high=23) is None


def test_paired_pvalue_matches_scipys_exact_paired_permutation_test():
    """Against scipy.stats.permutation_test(permutation_type='samples'): exact, one-sided."""
    import scipy.stats
    rng = np.random.default_rng(5)
    for n in (3, 6, 9):
        null = rng.normal(size=n)
        for shift in (0.0, 0.3, 2.0):
            setting = null + shift + 0.5 * rng.normal(size=n)
            ref = scipy.stats.permutation_test(
                (setting, null), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                permutation_type="samples", alternative="greater", n_resamples=np.inf).pvalue
            assert ts.paired_pvalue(setting, null) == pytest.approx(ref, rel=1e-12)


def test_paired_pvalue_extremes_and_floor():
    null = np.array([0.4, 0.3, 0.5, 0.45, 0.35, 0.38, 0.42, 0.36])
    assert ts.paired_pvalue(null + 0.01, null) == 2.0 ** -8 == ts.smallest_pvalue(8, 10, "paired")
    assert ts.paired_pvalue(null, null) == 1.0                 # identical runs: no evidence
    assert ts.members_needed(1.3e-4, 200_000, "paired") == 13  # 2^-13 = 1.2e-4
    # beyond the exact limit: sampled, p = (1 + #) / (1 + B)
    big = np.arange(20.0)
    assert ts.paired_pvalue(big + 1, big) == 1 / (1 + ts.MAX_SIGN_FLIPS)
