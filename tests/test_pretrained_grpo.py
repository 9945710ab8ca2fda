"""GRPO on a pretrained Hugging Face LM (issue 16, items 2 and 5), on the tiny random Llama: trainable modes freeze
what they say, one update moves log-probs with the advantages' signs in every mode, the update's gradient equals
the GRPO objective differentiated directly (full forward on [prompt | completion], not the trainer's shared prompt
cache), silent groups are skipped and carry nothing, runs are reproducible and resume to the same numbers, and the
CLI rejects bad values naming the option."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gpu_runs.pretrained import arithmetic, chat, grpo, grpo_compare
from gpu_runs.pretrained.grpo import GRPOSettings, grpo_update, make_optimizer
from gpu_runs.pretrained.models import FETCH_COMMAND, LanguageModel, load_model
from gpu_runs.pretrained.study import FORMAT
from gpu_runs.pretrained.trainable import Trainable, count_trainable, make_trainable

G = 4
REWARDS = np.array([1.0, 0.0, 0.0, 1.0,  # group 0: mixed
                    1.0, 1.0, 1.0, 1.0,  # group 1: silent
                    0.0, 1.0, 0.0, 0.0])  # group 2: mixed
"""Rewards set by hand, so that the tiny random model's completions have groups of both kinds."""


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    return load_model("tiny-random", seed=0)


@pytest.fixture(scope="module")
def batch(lm: LanguageModel) -> chat.Completions:
    problems = arithmetic.make_problems(3, seed=0)
    completions, _ = grpo.rollout(lm, problems, G, prompt_format=FORMAT, max_new_tokens=5, seed=1, reward="number")
    assert completions.completion_mask.sum(1).min() >= 1
    return completions


def settings(mode: str, **overrides) -> GRPOSettings:
    base = GRPOSettings(group_size=G, prompts_per_step=3, steps=1, max_new_tokens=5, learning_rate=1e-3,
                        trainable=Trainable(mode, lora_rank=4, lora_alpha=8), rows_per_microbatch=G)
    return replace(base, **overrides)


def sequence_logp(model: torch.nn.Module, c: chat.Completions) -> np.ndarray:
    with torch.no_grad():
        return chat.completion_logprobs(model, c.prompt_ids, c.prompt_mask, c.completion_ids,
                                        c.completion_mask).sum(1).double().numpy()


def grpo_advantages_by_hand(rewards: np.ndarray) -> np.ndarray:
    """(r - mean) / (sample std + 1e-6) per group; 0 in an all-equal group."""
    r = rewards.reshape(-1, G)
    std = r.std(axis=1, ddof=1, keepdims=True)
    return np.where(std > 0, (r - r.mean(axis=1, keepdims=True)) / (std + 1e-6), 0.0).ravel()


# --- trainable modes -------------------------------------------------------------------------------------------

def test_modes_freeze_exactly_what_they_say(lm: LanguageModel) -> None:
    named = dict(lm.model.named_parameters())
    full = make_trainable(copy.deepcopy(lm.model), Trainable("full"))
    assert count_trainable(full) == sum(p.numel() for p in named.values())
    top = make_trainable(copy.deepcopy(lm.model), Trainable("top1"))
    assert {n for n, p in top.named_parameters() if p.requires_grad} == {n for n in named
                                                                         if n.startswith("model.layers.1.")}
    lora = make_trainable(copy.deepcopy(lm.model), Trainable("lora", lora_rank=4), seed=0)
    trained = {n: p for n, p in lora.named_parameters() if p.requires_grad}
    assert trained and all("lora_A" in n or "lora_B" in n for n in trained)
    hidden, inter, kv = 64, 128, 32  # the tiny Llama's widths: q, o (64 x 64), k, v (32 x 64), gate, up, down
    shapes = [(hidden, hidden), (kv, hidden), (kv, hidden), (hidden, hidden), (inter, hidden), (inter, hidden),
              (hidden, inter)]
    assert count_trainable(lora) == 2 * sum(4 * (i + o) for o, i in shapes)  # 2 layers, r (in + out) per map
    assert not any(p.requires_grad for n, p in lora.named_parameters() if "lora_" not in n)


def test_bad_modes_are_rejected(lm: LanguageModel) -> None:
    for mode in ("top0", "top", "bottom2", "lora2", ""):
        with pytest.raises(ValueError, match="choose full, lora or topK"):
            Trainable(mode)
    with pytest.raises(ValueError, match=r"K=3 must lie in 1\.\.2"):
        make_trainable(copy.deepcopy(lm.model), Trainable("top3"))


# --- the update ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "top1", "lora"])
def test_update_raises_logprob_of_positive_and_lowers_negative_advantage(lm, batch, mode) -> None:
    model = make_trainable(copy.deepcopy(lm.model), Trainable(mode, lora_rank=4, lora_alpha=8), seed=0)
    if mode == "lora":  # B = 0 at the start: one step moves only B, and log-probs only at second order; start off 0
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(3))
    before = sequence_logp(model, batch)
    optimizer, _ = make_optimizer(model, settings(mode))
    stats = grpo_update(model, optimizer, batch, REWARDS, settings(mode))
    change = sequence_logp(model, batch) - before
    A = grpo_advantages_by_hand(REWARDS)
    assert stats.silent_fraction == pytest.approx(1 / 3) and stats.rows_updated == 8
    assert np.all(change[A > 0] > 0), (change, A)
    assert np.all(change[A < 0] < 0), (change, A)


def test_update_gradient_equals_the_grpo_objective_differentiated_directly(lm, batch) -> None:
    """SGD with lr 1 and no clipping: the step is minus the gradient. The reference: -sum_i A_i sum_t m_it log pi_it
    / (completion tokens of the whole batch, silent groups included) (TRL's ``dapo`` at rho = 1), its log-probs from
    one forward of [prompt | completion] per row, with hand-computed advantages."""
    model = make_trainable(copy.deepcopy(lm.model), Trainable("top1"))
    A = torch.as_tensor(grpo_advantages_by_hand(REWARDS), dtype=torch.float32)
    logp = chat.completion_logprobs(model, batch.prompt_ids, batch.prompt_mask, batch.completion_ids,
                                    batch.completion_mask)
    reference = -(A[:, None] * logp * batch.completion_mask).sum() / batch.completion_mask.sum()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    expected = torch.autograd.grad(reference, [p for n, p in model.named_parameters() if p.requires_grad])
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    sgd = torch.optim.SGD([p for n, p in model.named_parameters() if p.requires_grad], lr=1.0)
    grpo_update(model, sgd, batch, REWARDS, settings("top1", max_grad_norm=1e9))
    params = dict(model.named_parameters())
    for name, g in zip(names, expected, strict=True):
        torch.testing.assert_close(start[name] - params[name].detach(), g, atol=2e-6, rtol=1e-4)
    assert max(float(g.abs().max()) for g in expected) > 1e-3  # the comparison is not between zeros


def test_silent_groups_carry_no_gradient(lm, batch) -> None:
    """Only silent groups: no weight moves, no completion enters the backward."""
    model = make_trainable(copy.deepcopy(lm.model), Trainable("full"))
    start = copy.deepcopy(model.state_dict())
    optimizer, _ = make_optimizer(model, settings("full"))
    stats = grpo_update(model, optimizer, batch, np.ones(len(batch)), settings("full"))
    assert stats.rows_updated == 0 and stats.silent_fraction == 1.0 and stats.grad_norm == 0.0
    assert all(torch.equal(start[k], v) for k, v in model.state_dict().items())


def test_lora_step_changes_the_merged_model_not_the_base(lm, batch) -> None:
    model = make_trainable(copy.deepcopy(lm.model), Trainable("lora", lora_rank=4, lora_alpha=8), seed=0)
    base = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    optimizer, _ = make_optimizer(model, settings("lora", learning_rate=1e-2))
    for _ in range(2):  # the first step moves B off 0, the second moves the product B A
        grpo_update(model, optimizer, batch, REWARDS, settings("lora", learning_rate=1e-2))
    frozen = {n.replace("base_model.model.", "").replace(".base_layer", ""): p for n, p in model.named_parameters()
              if "lora_" not in n}
    assert set(frozen) == set(base) and all(torch.equal(frozen[n], base[n]) for n in base)
    merged = dict(copy.deepcopy(model).merge_and_unload().named_parameters())
    changed = [n for n in base if not torch.equal(merged[n], base[n])]
    assert changed and all(n.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                 "down_proj") for n in changed)


def test_logprobs_need_eval_mode(lm, batch) -> None:
    model = copy.deepcopy(lm.model).train()
    with pytest.raises(ValueError, match="dropout off"):
        grpo.group_logprobs(model, batch.prompt_ids, batch.prompt_mask, batch.completion_ids, batch.completion_mask, G)


# --- runs ------------------------------------------------------------------------------------------------------

TINY = grpo_compare.CompareSizes("tiny-random", (2, 4), seeds=2, steps=1, prompts_per_step=2, max_new_tokens=3,
                                 trainable="top1", reward="number", eval_prompts=2, eval_samples=2,
                                 learning_rate=1e-2)


def test_same_seed_same_run(lm) -> None:
    problems = arithmetic.make_problems(4, seed=5)
    runs = [grpo.train(lm, replace(TINY.settings(4), steps=2), problems, prompt_format=FORMAT, seed=7)[1]
            for _ in range(2)]
    strip = [[{k: v for k, v in row.items() if not k.startswith("seconds")} for row in log] for log in runs]
    assert strip[0] == strip[1]
    assert any(row["grad_norm"] > 0 for row in runs[0])  # something was learned, not two empty runs


def test_resumed_comparison_equals_an_uninterrupted_one(lm, tmp_path: Path, monkeypatch) -> None:
    full = grpo_compare.compare(lm, TINY, tmp_path, seed=0)
    (tmp_path / "runs" / "G4-seed1.json").unlink()  # killed before its last run finished
    trained: list[int] = []
    real_train = grpo_compare.train

    def counting_train(*args, **kwargs):
        trained.append(args[1].group_size)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(grpo_compare, "train", counting_train)
    resumed = grpo_compare.compare(lm, TINY, tmp_path, seed=0)
    assert trained == [4]  # only the missing run ran again

    def numbers(summary: dict) -> dict:
        return {G: {k: v for k, v in arm.items() if not k.startswith("seconds")} for G, arm in summary["arms"].items()}

    assert numbers(resumed) == numbers(full)
    assert {p.name for p in tmp_path.iterdir()} >= {"pretrained_grpo.json", "reward_curve_G2.png",
                                                    "reward_curve_G4.png", "runs"}
    stored = json.loads((tmp_path / "pretrained_grpo.json").read_text())
    assert stored["label"].startswith("SHORT RUN") and stored["trainable"]["parameters"] > 0
    assert stored["arms"]["4"]["rollouts"] == 8 * stored["arms"]["2"]["rollouts"] // 4


def test_a_folder_from_other_settings_is_refused(lm, tmp_path: Path) -> None:
    other = grpo_compare.fingerprint(replace(TINY, learning_rate=1e-3), 0, lm.source)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "baseline.json").write_text(json.dumps({"fingerprint": other, "pass_rate": 0.5}))
    with pytest.raises(ValueError, match=r"baseline\.json from a run with other settings"):
        grpo_compare.compare(lm, TINY, tmp_path, seed=0)
    assert not (tmp_path / grpo_compare.RESULTS).exists()


# --- the command line -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "named"), [
    (["--trainable", "top0"], "--trainable"), (["--trainable", "half"], "--trainable"),
    (["--group-sizes", "1", "16"], "--group-sizes"), (["--group-sizes", "2", "2"], "--group-sizes"),
    (["--seeds", "1"], "--seeds"), (["--lr", "0"], "--lr"), (["--lr", "2e-4x"], "--lr"),
    (["--steps", "0"], "--steps"), (["--model", "gpt2"], "--model"), (["--lora-rank", "0"], "--lora-rank"),
])
def test_cli_train_rejects_bad_values_naming_the_option(argv, named, tmp_path, capsys) -> None:
    assert exit_code(["pretrained", "train", "--budget", "smoke", "--out", str(tmp_path / "o"), *argv]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def exit_code(argv: list[str]) -> int:
    """The CLI's exit status: argparse's rejections raise SystemExit, the commands' return it."""
    from grpo_verify.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def test_cli_train_names_the_fetch_command_without_the_model_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GRPO_VERIFY_CACHE", str(tmp_path / "empty-cache"))
    assert exit_code(["pretrained", "train", "--model", "smollm2-135m", "--out", str(tmp_path / "o")]) == 2
    assert FETCH_COMMAND in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_smoke_writes_results_and_figures(tmp_path, capsys) -> None:
    from grpo_verify.cli import main

    assert main(["pretrained", "train", "--model", "tiny-random", "--budget", "smoke", "--out", str(tmp_path),
                 "--threads", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "SHORT RUN" in out and "improvement ratio 2-GRPO / 16-GRPO" in out
    data = json.loads((tmp_path / "pretrained_grpo.json").read_text())
    assert set(data["arms"]) == {"2", "16"} and data["comparison"]["rollout_ratio"] == 2 / 16
    assert (tmp_path / "reward_curve_G2.png").is_file() and (tmp_path / "reward_curve_G16.png").is_file()
