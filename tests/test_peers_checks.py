"""The peer checks (gpu_runs.peers: check_tt3, check_by4): the peers' advantage code against
theory.advantages, the float32 facts it rests on, the checks' records and artefacts, and the loud
error when TRL's route is missing (never a silent copy of TRL's lines).

TRL runs through its own trainer: the tests that reach it skip when trl cannot be imported and CI is
unset, and fail in CI (``pip install -e .[peers]``), as the cross-check of test_peers_trl does."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.record import RunContext
from gpu_runs import peers
from gpu_runs.peers import PEER_EPS, PEERS, check_by4, check_tt3
from theory.advantages import group_advantages, silent_groups

torch.set_num_threads(1)
REIMPLEMENTED = ("openrlhf", "verl")


@pytest.fixture(scope="module")
def trl() -> None:
    """Nothing, or a skip (CI unset) / failure (CI set) when trl cannot be imported."""
    try:
        import trl  # noqa: F401
    except Exception as exc:  # any failure to import means "not importable"
        message = f"trl is not importable ({exc!r}); install the extra: pip install -e .[peers]"
        if "CI" in os.environ:
            pytest.fail("CI is set: the TRL cross-check must run. " + message)
        pytest.skip(message)


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
@given(reward_batches(), st.sampled_from(REIMPLEMENTED))
def test_peer_advantages_equal_sample_std_grpo_with_their_eps(rewards: np.ndarray, peer: str) -> None:
    """On float64 rewards verl's and OpenRLHF's code is theory's grpo (sample std, its eps); on silent
    groups of dyadic rewards both are exactly zero. (TRL scores in float32: test_peers_trl compares it.)"""
    theirs = PEERS[peer](torch.from_numpy(rewards)).numpy()
    ours = group_advantages(rewards, "grpo", "sample", PEER_EPS[peer])
    np.testing.assert_allclose(theirs, ours, rtol=1e-7, atol=1e-12)
    assert np.all(theirs[silent_groups(rewards)] == 0.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3, width=32), st.sampled_from(sorted(PEERS)))
def test_two_equal_float32_rewards_leave_no_residue(trl: None, value: float, peer: str) -> None:
    """G = 2: r + r and the halving are exact in binary floating point, so no peer sees a residue."""
    rewards = torch.full((1, 2), value, dtype=torch.float32)
    assert torch.count_nonzero(PEERS[peer](rewards)) == 0


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, -2.0]), st.integers(2, 16), st.sampled_from(sorted(PEERS)))
def test_equal_dyadic_float32_rewards_give_zero_peer_advantages(trl: None, value: float, G: int, peer: str) -> None:
    rewards = torch.full((3, G), value, dtype=torch.float32)
    assert torch.count_nonzero(PEERS[peer](rewards)) == 0


def missing(name: str) -> str:
    raise importlib.metadata.PackageNotFoundError(name)


def test_without_trl_the_checks_fail_loudly_instead_of_copying_trl(monkeypatch, tmp_path: Path) -> None:
    """No transcription to fall back on: without trl the TRL peer raises, naming what is missing, so the
    runner reports the checks as errors."""
    monkeypatch.setattr(peers.importlib.metadata, "version", missing)
    with pytest.raises(RuntimeError, match=r"trl is not installed: the TRL cross-check needs trl 1\.16"):
        peers.trl_group_advantages(torch.tensor([[1.0, 0.0]]))
    for check in (check_tt3, check_by4):
        with pytest.raises(RuntimeError, match="trl is not installed"):
            check(RunContext("smoke", tmp_path, seed=0))


def test_a_trl_without_the_public_route_is_named_in_the_error(trl: None, monkeypatch) -> None:
    import trl as trl_module

    class TrainerWithoutRolloutFunc:
        def __init__(self, model, reward_funcs=None, args=None, train_dataset=None, processing_class=None):
            pytest.fail("a trainer without rollout_func was run")

    monkeypatch.setattr(trl_module, "GRPOTrainer", TrainerWithoutRolloutFunc)
    version = importlib.metadata.version("trl")
    with pytest.raises(RuntimeError, match=f"trl {version}: GRPOTrainer takes no rollout_func argument"):
        peers.trl_group_advantages(torch.tensor([[1.0, 0.0]]))


@pytest.fixture(scope="module")
def smoke_run(trl: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("peers")
    ctx = RunContext("smoke", out, seed=3)
    return out, check_tt3(ctx) + check_by4(ctx)


def test_checks_write_their_records_and_artefacts(smoke_run: tuple[Path, list]) -> None:
    out, evidence = smoke_run
    assert [e.claim_id for e in evidence] == ["TT-3", "BY-4"]
    for e in evidence:
        assert e.method == "exact" and e.command == ""  # the grpo_verify runner fills the command
        assert e.numbers["trl_route"].startswith(f"trl {importlib.metadata.version('trl')} GRPOTrainer")
        json.dumps(e.to_json(), allow_nan=False)
        for artefact in e.artefacts:
            assert not Path(artefact).is_absolute() and (out / artefact).stat().st_size > 0
    tt3, by4 = evidence
    assert tt3.artefacts == ("peers/tt3.json",)
    assert by4.artefacts == ("peers/by4.json", "peers/by4_spurious_advantages.png")
    for artefact, claim in ((tt3.artefacts[0], "TT-3"), (by4.artefacts[0], "BY-4")):
        data = json.loads((out / artefact).read_text())
        assert set(data) >= {"peer_eps", "trl_route"} and data["trl_route"] == tt3.numbers["trl_route"], claim
    assert all(tt3.checks.values()), tt3.reason  # the peers' G = 2 formula is exact arithmetic
    assert by4.checks["ours: exact zero advantages on every equal-reward group (every eps)"]
    assert by4.checks["dyadic rewards (control) leave no residue and no spurious advantage"]


def test_same_seed_gives_the_same_numbers(smoke_run: tuple[Path, list], tmp_path: Path) -> None:
    _, first = smoke_run
    ctx = RunContext("smoke", tmp_path, seed=3, claim_ids=frozenset({"TT-3", "BY-4"}))
    again = check_tt3(ctx) + check_by4(ctx)
    assert [e.numbers for e in again] == [e.numbers for e in first]
    assert [e.checks for e in again] == [e.checks for e in first]


def test_checks_honour_claim_ids(tmp_path: Path) -> None:
    only_tt3 = RunContext("smoke", tmp_path, seed=0, claim_ids=frozenset({"TT-3"}))
    assert check_by4(only_tt3) == []
    assert check_tt3(RunContext("smoke", tmp_path, claim_ids=frozenset({"TT-9"}))) == []
    assert not (tmp_path / "peers").exists()
