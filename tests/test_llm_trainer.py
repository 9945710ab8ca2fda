"""gpu_runs.trainer, gpu_runs.warmstart, gpu_runs.config: smoke runs for G = 2 and 16, resume
after a kill, the warm-start cache, config validation, silent groups carry no gradient."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gpu_runs.trainer as trainer
from gpu_runs.config import (
    GPTConfig,
    TrainConfig,
    WarmStartConfig,
    from_json,
    preset,
    to_json,
    with_group_size,
)
from gpu_runs.model import GPT
from gpu_runs.sampling import generate
from gpu_runs.tasks import TaskConfig, build_splits
from gpu_runs.tokenizer import CharTokenizer
from gpu_runs.warmstart import load_or_train, noisy_targets, supervised_batch

TASK = TaskConfig(difficulties=(2,), train_size=64, heldout_size=32)
WARM = WarmStartConfig(model=GPTConfig(block_size=12, n_layer=1, n_head=2, n_embd=16), task=TASK, steps=15,
                       batch_size=32, warmup_steps=2, lr=1e-2, label_noise=0.3, probe_prompts=8, probe_samples=4)
TINY = TrainConfig(warm_start=WARM, steps=4, group_size=4, prompts_per_step=4, prompts_per_minibatch=2,
                   lr=1e-3, max_new_tokens=4, eval_every=2, eval_prompts=32, checkpoint_every=2, threads=1,
                   device="cpu", reward="partial")  # partial credit: few silent groups, real updates
TIMES = ("time_rollout", "time_update", "time_eval", "time_step")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warmstarts")


def rows_without_times(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


def test_warm_start_cache_hit_returns_the_same_policy(cache_dir):
    first, record = load_or_train(WARM, cache_dir, torch.device("cpu"), progress=False)
    again, hit = load_or_train(WARM, cache_dir, torch.device("cpu"), progress=False)
    assert hit["cache_hit"] and hit["key"] == record["key"] == WARM.key()
    for name in ("model.pt", "warmstart.json", "pass_rates.png"):
        assert (cache_dir / WARM.key() / name).stat().st_size > 0
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert sum(hit["histogram"]["counts"]) == WARM.probe_prompts
    assert dataclasses.replace(WARM, seed=1).key() != WARM.key()


def test_noisy_targets_and_supervised_batch():
    train, _ = build_splits(TASK)
    rng = np.random.default_rng(0)
    assert noisy_targets(train[:20], rng, 0.0) == [p.answer for p in train[:20]]
    noisy = noisy_targets(train * 20, rng, 0.5)
    changed = np.mean([a != b for p, t in zip(train * 20, noisy, strict=True) for a, b in zip(p.answer, t,
                                                                                                  strict=True)])
    assert 0.35 < changed < 0.55  # replaced w.p. 0.5 by a uniform digit: changed w.p. 0.45
    ids, mask, loss_mask = supervised_batch(CharTokenizer(), train[:3], [p.answer for p in train[:3]], "cpu")
    assert CharTokenizer().decode(ids[0, -len(train[0].answer) - 1:].tolist()) == train[0].answer
    for i, p in enumerate(train[:3]):  # the loss covers the positions predicting answer and EOS
        assert int(loss_mask[i].sum()) == len(p.answer) + 1
        assert int(mask[i].sum()) == len(p.prompt) + len(p.answer) + 1
        assert loss_mask[i, -1] == 0


@pytest.mark.parametrize("group_size", [2, 16])
def test_trainer_smoke(tmp_path, cache_dir, group_size):
    config = with_group_size(dataclasses.replace(TINY, group_size=4, prompts_per_step=8, prompts_per_minibatch=4),
                             group_size)
    summary = trainer.train(config, tmp_path, cache_dir, progress=False)
    rows = rows_without_times(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert summary["rollouts_total"] == rows[-1]["rollouts_total"] == 4 * 32
    for r in rows[1:]:
        assert 0.0 <= r["pass_rate"] <= 1.0 and 0.0 <= r["silent_fraction"] <= 1.0
        assert r["kl"] >= 0.0 and r["entropy"] > 0.0 and r["rollouts"] == 32
        assert r["optimizer_steps"] <= 2
    assert "heldout_pass_rate" in rows[2] and "heldout_pass_rate" not in rows[1]
    assert json.loads((tmp_path / "config.json").read_text()) == to_json(config)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000004.pt", "step_000004.pt.sha256"]
    assert summary["final"]["step"] == 4


def test_train_starts_from_the_policy_its_injected_loader_returns(tmp_path):
    """train(load_start=...) trains the model the loader returns (here 8 wide where the config's is 16),
    reports the loader's record, and never reaches the test bed's warm start or its cache."""
    torch.manual_seed(0)
    injected = GPT(dataclasses.replace(WARM.model, n_embd=8))
    before = {k: v.clone() for k, v in injected.state_dict().items()}
    record = {"key": "injected", "folder": "nowhere", "cache_hit": True, "histogram": {"prompts": 0}, "heldout": {}}
    calls = []

    def load_start(config, cache_dir, device, *, progress=True):
        calls.append((config, cache_dir, device.type))
        return injected, record

    config = dataclasses.replace(TINY, steps=2)
    summary = trainer.train(config, tmp_path / "run", tmp_path / "cache", load_start=load_start, progress=False)
    assert calls == [(config.warm_start, tmp_path / "cache", "cpu")]
    assert summary["params"] == injected.num_params() != GPT(WARM.model).num_params()
    assert summary["warm_start"] == record
    assert not (tmp_path / "cache").exists()
    policy = torch.load(trainer.latest_checkpoint(tmp_path / "run"), weights_only=True)["policy"]
    assert policy["wte.weight"].shape == before["wte.weight"].shape == (WARM.model.vocab_size, 8)
    assert any(not torch.equal(policy[k], v) for k, v in before.items())  # the injected start was trained
    assert all(torch.equal(injected.state_dict()[k], v) for k, v in before.items())  # on a copy: the start is kept


def test_resume_after_kill_ends_with_the_same_metrics(tmp_path, cache_dir, monkeypatch):
    config = dataclasses.replace(TINY, steps=5)
    reference = trainer.train(config, tmp_path / "whole", cache_dir, progress=False)
    append_log = trainer.append_log

    def killed_after_step_3(path, row):  # dies after logging step 3, before its checkpoint could exist
        append_log(path, row)
        if row["step"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "append_log", killed_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, tmp_path / "killed", cache_dir, progress=False)
    assert trainer.latest_checkpoint(tmp_path / "killed").name == "step_000002.pt"
    monkeypatch.setattr(trainer, "append_log", append_log)
    resumed = trainer.train(config, tmp_path / "killed", cache_dir, progress=False)
    rows = rows_without_times(tmp_path / "whole")
    assert sum(r["optimizer_steps"] for r in rows[1:]) >= 5  # the policy really changed on the way
    assert rows_without_times(tmp_path / "killed") == rows
    assert resumed["final"] | {k: 0 for k in TIMES} == reference["final"] | {k: 0 for k in TIMES}


def test_killed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, cache_dir, monkeypatch):
    config = dataclasses.replace(TINY, steps=4)
    save = torch.save

    def dies_at_step_4(obj, f, *args, **kwargs):
        if obj["step"] == 4:
            save({"half": "written"}, f)
            raise KeyboardInterrupt
        save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dies_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, tmp_path, cache_dir, progress=False)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000002.pt", "step_000002.pt.sha256"]


def test_run_directory_of_another_config_is_refused(tmp_path, cache_dir):
    trainer.train(dataclasses.replace(TINY, steps=1), tmp_path, cache_dir, progress=False)
    with pytest.raises(ValueError, match="another config"):
        trainer.train(dataclasses.replace(TINY, steps=1, lr=5e-3), tmp_path, cache_dir, progress=False)


def test_resample_silent_respects_the_rollout_cap(tmp_path, cache_dir):
    config = dataclasses.replace(TINY, steps=2, group_size=2, prompts_per_step=8, prompts_per_minibatch=8,
                                 resample_silent=True, resample_rollouts_per_prompt=4, reward="binary")
    trainer.train(config, tmp_path, cache_dir, progress=False)
    rows = rows_without_times(tmp_path)[1:]
    assert sum(r["groups_resampled"] for r in rows) > 0  # the barely trained start leaves silent groups
    for r in rows:
        assert r["rollouts"] == 16 + 2 * r["groups_resampled"]
        assert r["rollouts"] == 4 * 8 or r["silent_fraction_final"] == 0  # stops at the cap or when none is silent


def silent_minibatch() -> tuple[GPT, trainer.Samples, torch.Tensor]:
    torch.manual_seed(0)
    model = GPT(WARM.model)
    ids, mask = CharTokenizer().pad_left(["12+34=", "1+2=", "99+9="])
    samples = generate(model, ids, mask, max_new_tokens=4, group_size=3, generator=torch.Generator().manual_seed(0))
    advantages = torch.tensor([1.0, -0.5, -0.5, 0.0, 0.0, 0.0, 0.7, 0.0, -0.7])  # group 2 silent
    return model, samples, advantages


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_skipping_silent_groups_changes_neither_loss_nor_gradient(loss_type):
    model, samples, advantages = silent_minibatch()
    config = dataclasses.replace(TINY, loss_type=loss_type, group_size=3)
    grads = []
    for skip in (False, True):
        model.zero_grad()
        out, forwarded = trainer.minibatch_loss(model, samples, advantages, None, config, skip_zero=skip)
        out.loss.backward()
        grads.append((out.loss.detach(), [p.grad.clone() for p in model.parameters()], forwarded))
    assert grads[0][2] == 9 and grads[1][2] == 6  # group 2 (rows 3-5) skipped; group 3 holds a nonzero A
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-6, atol=1e-7)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


def test_silent_group_contributes_no_gradient():
    """With the full forward, rewriting a silent group's completions leaves the gradient unchanged."""
    model, samples, advantages = silent_minibatch()
    grads = []
    rewritten = samples.completion_ids.clone().index_fill_(0, torch.tensor([3, 4, 5]), 7)
    for completion in (samples.completion_ids, rewritten):
        s = dataclasses.replace(samples, completion_ids=completion)
        model.zero_grad()
        out, _ = trainer.minibatch_loss(model, s, advantages, None, dataclasses.replace(TINY, group_size=3),
                                        skip_zero=False)
        out.loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_prompt_stream_covers_each_epoch_and_resumes():
    stream = trainer.PromptStream(10, seed=3)
    first = stream.take(7)
    state = stream.state()
    rest = stream.take(8)
    assert sorted(first + rest[:3]) == list(range(10))  # epoch 0 is a permutation
    assert trainer.PromptStream(10, 3, **state).take(8) == rest


def test_with_group_size_keeps_rollouts():
    config = preset("small")
    two = with_group_size(config, 2)
    assert two.rollouts_per_step == config.rollouts_per_step and two.prompts_per_step == 8 * config.prompts_per_step
    assert with_group_size(config, 4, rollouts_per_step=64, rollouts_per_minibatch=32).prompts_per_minibatch == 8
    with pytest.raises(ValueError, match="rollouts_per_step=100"):
        with_group_size(config, 16, rollouts_per_step=100)


def test_config_json_round_trip():
    for name in ("tiny", "small", "gpu"):
        config = preset(name)
        assert from_json(json.loads(json.dumps(to_json(config)))) == config


@pytest.mark.parametrize(("changes", "match"), [
    ({"group_size": 1}, "group_size=1"),
    ({"prompts_per_minibatch": 3}, "must divide"),
    ({"estimator": "ppo"}, "estimator='ppo'"),
    ({"loss_type": "sapo"}, "loss_type='sapo'"),
    ({"lr": 0.0}, "lr=0.0"),
    ({"lr": -1e-3}, "lr=-0.001"),
    ({"eps_low": 1.0}, "eps_low=1.0"),
    ({"eps_high": -0.1}, "eps_high=-0.1"),
    ({"beta": -1.0}, "beta=-1.0"),
    ({"temperature": 0.0}, "temperature=0.0"),
    ({"top_p": 0.0}, "top_p=0.0"),
    ({"steps": 0}, "steps=0"),
    ({"ppo_epochs": 0}, "ppo_epochs=0"),
    ({"std": "biased"}, "std='biased'"),
    ({"reward": "graded"}, "reward='graded'"),
    ({"device": "tpu"}, "device='tpu'"),
    ({"threads": -1}, "threads=-1"),
    ({"resample_rollouts_per_prompt": 2}, "resample_rollouts_per_prompt=2"),
    ({"prompts_per_step": 128, "prompts_per_minibatch": 128}, "train_size"),
    ({"eval_prompts": 33}, "heldout_size"),
    ({"max_new_tokens": 7}, "block_size"),
])
def test_config_validation_names_the_argument(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **changes)


@pytest.mark.parametrize(("changes", "match"), [
    ({"steps": 0}, "steps=0"), ({"lr": 0.0}, "lr=0.0"), ({"label_noise": 1.0}, "label_noise=1.0"),
    ({"model": GPTConfig(block_size=4)}, "block_size=4"),
])
def test_warm_start_config_validation(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(WARM, **changes)
