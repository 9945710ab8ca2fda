"""TT-9 experiment end to end on a tiny config (smaller than ``--budget smoke``): equal tuning of every
arm, every arm over two seeds, the report, the CLI piece, the check, resuming a killed run, worker
processes, the scale ladder, and a Hugging Face model (randomly initialised, saved to a temporary
folder) as the policy."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gpu_runs.trainer as trainer
import gpu_runs.tt9.experiment as experiment
import gpu_runs.tt9.metrics as metrics
from evidence.record import RunContext
from gpu_runs.config import GPTConfig, TrainConfig, WarmStartConfig, task_config
from gpu_runs.sampling import generate
from gpu_runs.tokenizer import CharTokenizer
from gpu_runs.tt9.experiment import (
    ARM_KEYS,
    ExperimentConfig,
    Runner,
    RunSpec,
    make_arm,
    run_experiment,
    run_one,
    tuned_arms,
)
from gpu_runs.tt9.start import start_policy
from grpo_verify.commands import llm_experiment

TASK = task_config("addition", (2,), train_size=16, heldout_size=32)
WARM = WarmStartConfig(model=GPTConfig(block_size=TASK.max_prompt_len + TASK.max_answer_len + 2, n_layer=1, n_head=2,
                                       n_embd=16),
                       task=TASK, steps=20, batch_size=32, warmup_steps=2, lr=1e-2, label_noise=0.3, probe_prompts=8,
                       probe_samples=4)
BASE = TrainConfig(warm_start=WARM, group_size=16, prompts_per_step=2, prompts_per_minibatch=2, lr=1e-3,
                   max_new_tokens=TASK.max_answer_len + 1, eval_prompts=16, threads=1, device="cpu")
TINY = ExperimentConfig(base=BASE, epochs=1, max_epochs=1, seeds=2, lr_grid=(0.5, 1.0), max_grid_extensions=1,
                        eval_points=2, final_prompts=32, probe_prompts=8)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warmstarts")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, cache_dir) -> Path:
    """The tiny experiment run once through the CLI piece, into report/llm (what the check uses)."""
    out = tmp_path_factory.mktemp("report")
    parser = argparse.ArgumentParser()
    llm_experiment.add_arguments(parser)
    args = parser.parse_args(["--out", str(out / "llm"), "--cache-dir", str(cache_dir), "--quiet"])
    patch = pytest.MonkeyPatch()
    patch.setattr(llm_experiment, "experiment_config", lambda *a, **k: TINY)
    try:
        assert llm_experiment.run(args) == 0
    finally:
        patch.undo()
    return out


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_arm_and_seed_has_a_result_and_no_checkpoint(report_dir):
    out = report_dir / "llm"
    tuning = read(out / "experiment.json")["tables"]["tuning"]
    for arm in ARM_KEYS:
        for seed in (0, 1):
            run_dir = out / "runs" / arm / f"seed{seed}"
            result = read(run_dir / "result.json")
            assert result["seed"] == seed and not (run_dir / "checkpoints").exists()
            assert result["final"]["prompts"] == TINY.final_prompts
            assert set(result["final"]["by_difficulty"]) == {"2"}
            assert len(result["silent_fraction"]) == result["steps"] == result["curve"]["step"][-1]
    for arm in tuned_arms(TINY):  # every tuned arm ran the whole grid on the tuning seed, probes only
        assert {float(m) for m in tuning[arm]["grid"]} >= set(TINY.lr_grid)
        for m in tuning[arm]["grid"]:
            result = read(out / "runs" / "tune" / "e1" / arm / f"x{float(m):g}" / "seed1000" / "result.json")
            assert result["final"] is None and result["probe_end"]["prompts"] == TINY.probe_prompts
    grpo16, grpo2 = read(out / "runs/grpo16/seed0/result.json"), read(out / "runs/grpo2-tt/seed0/result.json")
    assert 8 * grpo2["rollouts_total"] == grpo16["rollouts_total"] == 8 * 2 * 16
    assert grpo2["lr"] == pytest.approx(8 * grpo16["lr"])  # TT's protocol row: 8x 16-GRPO's tuned lr
    assert grpo16["lr"] == pytest.approx(tuning["grpo16"]["lr"])
    assert read(out / "runs/grpo2-rs/seed1/result.json")["rollouts_total"] <= grpo16["rollouts_total"]
    assert read(out / "runs/grpo2-equal/seed1/result.json")["rollouts_total"] == grpo16["rollouts_total"]


def test_report_files_and_evidence(report_dir):
    out = report_dir / "llm"
    for name in ("experiment.json", "ratio_table.md", "start.json", "curves_table1.png", "curves_table4.png",
                 "silent_fraction.png", "grpovi.png", "evidence.json"):
        assert (out / name).stat().st_size > 0, name
    evidence = read(out / "evidence.json")
    assert evidence["meta"]["budget"] == "default" and "device" in evidence["meta"] and evidence["meta"]["jobs"] == 1
    assert [e["claim_id"] for e in evidence["evidence"]] == ["TT-9", "TT-9", "VI-3"]
    tables = read(out / "experiment.json")["tables"]
    assert set(tables["table1"]) == {"grpo16", "grpo2-tt", "grpo2-own", "grpo2-rs", "grpo2-equal"}
    assert tables["table1"]["grpo2-tt"]["rollouts_ratio"]["value"] == pytest.approx(0.125)
    for key, row in {**tables["table1"], **tables["table4"]}.items():  # every arm but the reference is judged
        assert ("decision" in row) == (key != "grpo16")
    assert tables["spread"]["prompts"] == TINY.probe_prompts and len(tables["plateau"]) == 1
    assert "improvement recovered" in (out / "ratio_table.md").read_text()


def test_check_reuses_finished_runs_and_returns_relative_artefacts(report_dir, cache_dir, monkeypatch):
    monkeypatch.setattr(experiment, "experiment_config", lambda *a, **k: TINY)
    monkeypatch.setattr(experiment, "DEFAULT_CACHE_DIR", cache_dir)
    monkeypatch.setattr(trainer, "rollout", lambda *a, **k: pytest.fail("a finished run was trained again"))
    evidence = experiment.check_tt9_vi3(RunContext("smoke", report_dir, claim_ids=frozenset({"VI-3"})))
    assert [e.claim_id for e in evidence] == ["VI-3"]
    assert evidence[0].command == ""  # the grpo_verify runner fills the reproducing command
    for artefact in evidence[0].artefacts:
        assert artefact.startswith("llm/") and (report_dir / artefact).exists()
    json.dumps([e.to_json() for e in evidence], allow_nan=False)


def test_killed_run_resumes_without_retraining_and_matches_an_uninterrupted_run(tmp_path, report_dir, cache_dir,
                                                                                monkeypatch):
    clean = read(report_dir / "llm/runs/grpo16/seed0/result.json")
    arm = make_arm(TINY, "grpo16", clean["lr_multiplier"])
    spec = RunSpec(arm, 0, tmp_path / "grpo16", evaluate=True)
    start = start_policy("gpt")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(metrics, "evaluate_policy", killed)
    with pytest.raises(KeyboardInterrupt):
        run_one(TINY, spec, cache_dir, start, progress=False)
    assert (spec.run_dir / "checkpoints").exists() and not (spec.run_dir / "result.json").exists()
    monkeypatch.undo()
    monkeypatch.setattr(trainer, "rollout", lambda *a, **k: pytest.fail("a trained run was trained again"))
    resumed = run_one(TINY, spec, cache_dir, start, progress=False)
    steps = [json.loads(line)["step"] for line in (spec.run_dir / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(arm.config.steps + 1))  # no step logged twice
    assert resumed["final"] == clean["final"] and resumed["curve"]["pass_rate"] == clean["curve"]["pass_rate"]


def test_a_finished_run_of_another_lr_is_refused(report_dir, cache_dir):
    clean = read(report_dir / "llm/runs/grpo16/seed0/result.json")
    other = RunSpec(make_arm(TINY, "grpo16", 3 * clean["lr_multiplier"]), 0, report_dir / "llm/runs/grpo16/seed0", True)
    with pytest.raises(ValueError, match="another config"):
        run_one(TINY, other, cache_dir, start_policy("gpt"), progress=False)


def test_rerunning_the_experiment_trains_nothing(report_dir, cache_dir, monkeypatch):
    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    run = run_experiment(TINY, report_dir / "llm", cache_dir, progress=False)
    assert {len(v) for v in run["results"].values()} == {2} and set(run["tuning"]) == set(tuned_arms(TINY))


def test_worker_processes_give_the_runs_one_process_gives(tmp_path, report_dir, cache_dir):
    """--jobs 2: the same results as in-process runs (each worker seeds its own run, one thread)."""
    clean = [read(report_dir / f"llm/runs/g4-fixed-p/seed{s}/result.json") for s in (0, 1)]
    arm = make_arm(TINY, "g4-fixed-p", clean[0]["lr_multiplier"])
    runner = Runner(TINY, cache_dir, start_policy("gpt"), jobs=2, progress=False)
    try:
        results = runner.run([RunSpec(arm, s, tmp_path / f"seed{s}", evaluate=True) for s in (0, 1)])
    finally:
        runner.close()
    assert [r["seed"] for r in results] == [0, 1]
    for result, reference in zip(results, clean, strict=True):
        assert result["final"] == reference["final"] and result["device"] == "cpu (1 threads)"


def test_ladder_from_finished_experiments(report_dir, tmp_path):
    from gpu_runs.tt9.ladder import LADDER_ARMS, write_ladder

    rows = write_ladder([report_dir / "llm"], tmp_path, notes=("gpu rung: configured, not run",))
    assert [r["arm"] for r in rows] == list(LADDER_ARMS)
    for name in ("ladder.json", "ladder.md", "ladder.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "ladder.md").read_text()
    assert "gpu rung: configured, not run" in text and "| llm | " in text
    with pytest.raises(ValueError, match=r"experiment\.json"):
        write_ladder([tmp_path / "nowhere"], tmp_path)


# --- a Hugging Face causal LM as the policy ---------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_path(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-hf")
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate("0123456789+=>xyz")}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=1,
                        eos_token_id=1, pad_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_hf_policy_maps_the_alphabet_and_samples_the_same_with_and_without_cache(hf_path):
    from transformers import AutoTokenizer

    from gpu_runs.tt9.start import char_token_ids, load_hf_policy

    ids = char_token_ids(AutoTokenizer.from_pretrained(hf_path, local_files_only=True))
    assert ids[:2] == [0, 1] and ids[2:] == list(range(3, 16))
    policy = load_hf_policy(hf_path, block_size=16, device=torch.device("cpu"))
    prompt_ids, mask = CharTokenizer().pad_left(["12+3=", "5+67="])
    runs = [generate(policy, prompt_ids, mask, max_new_tokens=4, group_size=3,
                     generator=torch.Generator().manual_seed(7), use_cache=cache) for cache in (True, False)]
    assert torch.equal(runs[0].completion_ids, runs[1].completion_ids)
    assert torch.allclose(runs[0].token_logp, runs[1].token_logp, atol=1e-5)
    assert runs[0].completion_ids.shape[0] == 6 and int(runs[0].completion_ids.max()) < len(ids)


def test_hf_model_runs_an_arm_of_the_experiment(tmp_path, hf_path, cache_dir):
    exp = dataclasses.replace(TINY, model=f"hf:{hf_path}", arms=("grpo16", "grpo2-tt"))
    from transformers import AutoModelForCausalLM

    import gpu_runs.warmstart as warmstart

    spec = RunSpec(make_arm(exp, "grpo2-tt", 1.0), 0, tmp_path / "runs/grpo2-tt/seed0", evaluate=True)
    result = run_one(exp, spec, cache_dir, start_policy(exp.model), progress=False)
    assert result["model"] == f"hf:{hf_path}" and result["rollouts_total"] == 32
    summary = json.loads((tmp_path / "runs/grpo2-tt/seed0/summary.json").read_text())  # what the trainer trained
    assert summary["warm_start"]["key"].startswith("hf-")
    assert summary["params"] == AutoModelForCausalLM.from_pretrained(hf_path).num_parameters()
    assert trainer.load_or_train is warmstart.load_or_train  # nothing was patched: the loader was an argument
    assert 0.0 <= result["final"]["mean_at_16"] <= 1.0 and np.isfinite(result["curve"]["pass_rate"]).all()
    assert not (tmp_path / "runs/grpo2-tt/seed0/checkpoints").exists()


def test_hf_path_must_be_a_folder(tmp_path):
    from gpu_runs.tt9.start import load_hf_policy

    with pytest.raises(ValueError, match="path="):
        load_hf_policy(tmp_path / "missing", block_size=16, device=torch.device("cpu"))
