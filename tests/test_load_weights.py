"""Weighted engine shares of the load (exact proportions, evenly interleaved, checked inputs) and the
serving attempt's time that the ledger keeps."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from loadgen.load import LoadSpec, interleave

pytestmark = pytest.mark.unit


def test_equal_shares_take_turns() -> None:
    assert list(itertools.islice(interleave(["a", "b"]), 5)) == ["a", "b", "a", "b", "a"]


def test_weights_give_exact_shares_per_period() -> None:
    # One period of the smooth weighted round-robin is sum(weights) picks.
    picks = list(itertools.islice(interleave(["a", "b", "c"], [1, 1, 3]), 500))
    assert Counter(picks) == {"a": 100, "b": 100, "c": 300}


def test_weighted_picks_are_spread_not_in_runs() -> None:
    picks = list(itertools.islice(interleave(["a", "b", "c"], [1, 1, 3]), 5))
    assert Counter(picks)["c"] == 3
    assert max(len(list(run)) for _, run in itertools.groupby(picks)) <= 2


@pytest.mark.parametrize("weights", [(1.0,), (1.0, 0.0), (1.0, -2.0)])
def test_bad_weights_are_refused(weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="weights"):
        LoadSpec(qps=10, duration_s=1, engines=("a", "b"), weights=weights)


def test_server_time_is_the_nodes_elapsed_which_holds_its_queue_wait() -> None:
    import httpx

    from loadgen.load import _entry_from_response

    body = {"elapsed_s": 2.6, "queue_s": 0.1, "cluster": "c1", "node": "n1", "pod": "p", "attempts": 2}
    entry = _entry_from_response("q1", "sales", "lookup", 100.0, httpx.Response(200, json=body))
    assert entry.server_s == pytest.approx(2.6)
    failed = _entry_from_response("q2", "sales", "lookup", 100.0, httpx.Response(504, json={"error_type": "timeout"}))
    assert failed.server_s != failed.server_s  # NaN: no serving attempt
