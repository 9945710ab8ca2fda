"""The peer evidence producer (gpu_runs.peer_checks; TT-3, BY-4): the peers' advantage formulas
against theory.advantages, the float32 facts it rests on, and the producer's records and artefacts.
Needs no trl: without it the producer takes its transcription of TRL's lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.record import RunContext
from gpu_runs import peer_checks
from gpu_runs.peer_checks import PEER_EPS, PEERS, produce
from grpo_verify.producers import PRODUCERS_BY_NAME
from theory.advantages import group_advantages, silent_groups

torch.set_num_threads(1)


@st.composite
def reward_batches(draw: st.DrawFn) -> np.ndarray:
    """(Q, G) float64 rewards, G = 2..16: binary, ties with all-equal groups, or real."""
    G, Q = draw(st.integers(2, 16)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["binary", "ties", "real"]))
    if kind == "binary":
        return rng.integers(0, 2, size=(Q, G)).astype(np.float64)
    if kind == "ties":
        return rng.choice([0.0, 0.5, 1.0], size=(Q, G))
    return rng.uniform(-3, 3, size=(Q, G))


@settings(max_examples=40, deadline=None)
@given(reward_batches(), st.sampled_from(sorted(PEERS)))
def test_peer_advantages_equal_sample_std_grpo_with_their_eps(rewards: np.ndarray, peer: str) -> None:
    """On float64 rewards each peer's code is theory's grpo (sample std, its eps); on silent groups
    of dyadic rewards both are exactly zero. (TRL's Bessel factor is a float32 number: rtol 1e-7.)"""
    theirs = PEERS[peer](torch.from_numpy(rewards)).numpy()
    ours = group_advantages(rewards, "grpo", "sample", PEER_EPS[peer])
    np.testing.assert_allclose(theirs, ours, rtol=1e-7, atol=1e-12)
    assert np.all(theirs[silent_groups(rewards)] == 0.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3, width=32), st.sampled_from(sorted(PEERS)))
def test_two_equal_float32_rewards_leave_no_residue(value: float, peer: str) -> None:
    """G = 2: r + r and the halving are exact in binary floating point, so no peer sees a residue."""
    rewards = torch.full((1, 2), value, dtype=torch.float32)
    assert torch.count_nonzero(PEERS[peer](rewards)) == 0


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, -2.0]), st.integers(2, 16), st.sampled_from(sorted(PEERS)))
def test_equal_dyadic_float32_rewards_give_zero_peer_advantages(value: float, G: int, peer: str) -> None:
    rewards = torch.full((3, G), value, dtype=torch.float32)
    assert torch.count_nonzero(PEERS[peer](rewards)) == 0


@settings(max_examples=20, deadline=None)
@given(reward_batches())
def test_trl_transcription_is_used_without_trl(rewards: np.ndarray) -> None:
    """With trl absent the producer states it and computes TRL's formula from its transcription."""
    r = torch.from_numpy(rewards.astype(np.float32))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(peer_checks, "trl_source", lambda: None)
        assert peer_checks.trl_route().startswith("transcription")
        fallback = peer_checks.trl_group_advantages(r)
    assert torch.equal(fallback, peer_checks.trl_group_advantages_transcribed(r))


def test_producer_is_registered_for_tt3_and_by4() -> None:
    producer = PRODUCERS_BY_NAME["peers"]
    assert (producer.target, producer.claims, producer.method) == ("gpu_runs.peer_checks:produce",
                                                                   ("TT-3", "BY-4"), "exact")
    assert producer.load() is produce


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("peers")
    return out, produce(RunContext("smoke", out, seed=3))


def test_producer_writes_its_records_and_artefacts(smoke_run: tuple[Path, list]) -> None:
    out, evidence = smoke_run
    assert [e.claim_id for e in evidence] == ["TT-3", "BY-4"]
    for e in evidence:
        assert e.method == "exact" and e.command == "grpo-verify report --only peers --budget smoke"
        json.dumps(e.to_json(), allow_nan=False)
        for artefact in e.artefacts:
            assert not Path(artefact).is_absolute() and (out / artefact).stat().st_size > 0
    data = json.loads((out / "peers" / "peers.json").read_text())
    assert set(data) >= {"peer_eps", "trl_route", "TT-3", "BY-4"}
    tt3, by4 = evidence
    assert all(tt3.checks.values()), tt3.reason  # the peers' G = 2 formula is exact arithmetic
    assert by4.checks["ours: exact zero advantages on every equal-reward group (every eps)"]
    assert by4.checks["dyadic rewards (control) leave no residue and no spurious advantage"]


def test_same_seed_gives_the_same_numbers(smoke_run: tuple[Path, list], tmp_path: Path) -> None:
    _, first = smoke_run
    again = produce(RunContext("smoke", tmp_path, seed=3, claim_ids=frozenset({"TT-3", "BY-4"})))
    assert [e.numbers for e in again] == [e.numbers for e in first]
    assert [e.checks for e in again] == [e.checks for e in first]


def test_producer_honours_claim_ids(tmp_path: Path) -> None:
    evidence = produce(RunContext("smoke", tmp_path, seed=0, claim_ids=frozenset({"TT-3"})))
    assert [e.claim_id for e in evidence] == ["TT-3"]
    assert not (tmp_path / "peers" / "by4_spurious_advantages.png").exists()
    assert produce(RunContext("smoke", tmp_path / "none", claim_ids=frozenset({"TT-9"}))) == []
