"""``grpo-verify llm train``: options, config building, an end-to-end run on a toy preset; the presets
mean the same models in ``llm train`` and ``llm experiment``."""

from __future__ import annotations

import dataclasses
import json

import pytest

import gpu_runs.config as config_module
from evidence.record import BUDGETS
from gpu_runs.config import PRESETS, GPTConfig, TrainConfig, WarmStartConfig, preset
from gpu_runs.tasks import TASKS, TaskConfig
from gpu_runs.tt9.experiment import experiment_config
from grpo_verify.cli import build_parser, main
from grpo_verify.commands.llm import build_config, format_histogram, run_name
from grpo_verify.commands.llm_experiment import default_out


def parse(*argv: str):
    return build_parser().parse_args(["llm", "train", *argv])


def toy_preset(task: str = "addition") -> TrainConfig:
    warm = WarmStartConfig(model=GPTConfig(block_size=12, n_layer=1, n_head=2, n_embd=16),
                           task=TaskConfig(name=task, difficulties=(2,) if task == "addition" else (4,),
                                           train_size=64, heldout_size=32),
                           steps=5, batch_size=16, warmup_steps=1, probe_prompts=4, probe_samples=2)
    return TrainConfig(warm_start=warm, steps=2, group_size=16, prompts_per_step=2, prompts_per_minibatch=1,
                       max_new_tokens=4, eval_every=1, eval_prompts=16, checkpoint_every=1, threads=1, device="cpu")


def test_options_override_the_preset():
    args = parse("--preset", "small", "--estimator", "rloo", "--loss-type", "dr_grpo", "--lr", "3e-5", "--beta",
                 "0.04", "--seed", "3", "--resample-silent", "--reward", "partial", "--task", "sorting")
    config = build_config(args)
    base = preset("small", "sorting")
    assert config == dataclasses.replace(base, estimator="rloo", loss_type="dr_grpo", lr=3e-5, beta=0.04, seed=3,
                                         resample_silent=True, reward="partial")
    assert config.warm_start.task.name == "sorting"
    assert run_name(config) == "G16+rs-rloo-dr_grpo-seed3"
    assert parse().group_size == [2, 16] and parse().preset == "tiny"


def test_bad_option_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects an unknown choice: exit 2, the option named
        main(["llm", "train", "--loss-type", "sapo", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--loss-type" in err and "'sapo'" in err and "Traceback" not in err


def test_format_histogram_lists_every_bin():
    histogram = {"bins": [i / 10 for i in range(11)], "counts": [0, 1, 2, 3, 4, 5, 4, 3, 2, 1],
                 "share_informative": 0.8, "mean_pass_rate": 0.5, "signal_groups_G2": 0.4, "signal_groups_G16": 0.9}
    lines = format_histogram(histogram)
    assert len(lines) == 11 and "80.0%" in lines[-1] and lines[5].endswith(" 5")


def test_train_end_to_end_for_two_group_sizes_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(config_module.PRESETS, "tiny", toy_preset)
    argv = ["llm", "train", "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pass-rate histogram" in out and "share with 0.1 < p < 0.9" in out
    runs = json.loads(out.strip().splitlines()[-1])["runs"]
    assert [r.split("/")[-1] for r in runs] == ["G2-grpo-grpo-seed0", "G16-grpo-grpo-seed0"]
    for run in runs:
        rows = (tmp_path / "runs" / run.split("/")[-1] / "log.jsonl").read_text().splitlines()
        assert [json.loads(r)["step"] for r in rows] == [0, 1, 2]
    assert main(argv) == 0  # finished runs resume to their end at once, the warm start is a cache hit
    assert "cache hit" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--group-size", "3"], ["--rollouts-per-step", "24", "--group-size", "16"]])
def test_group_sizes_that_do_not_divide_the_rollouts_are_refused(argv, tmp_path, capsys):
    assert main(["llm", "train", *argv, "--out", str(tmp_path), "--quiet"]) == 2
    assert "must be a multiple of every --group-size" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["llm", "--help"], ["llm", "train", "--help"], ["llm", "experiment", "--help"]])
def test_help_of_every_llm_subcommand_renders(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 0
    assert "usage: grpo-verify llm" in capsys.readouterr().out


def parse_experiment(*argv: str):
    return build_parser().parse_args(["llm", "experiment", *argv])


@pytest.mark.parametrize("name", ["tiny", "small", "gpu"])
def test_a_preset_is_the_same_model_in_llm_train_and_llm_experiment(name):
    """`--preset tiny` (and small, gpu) trains the same model from the same warm start in both commands."""
    for task in TASKS:
        train_config = build_config(parse("--preset", name, "--task", task))
        for budget in BUDGETS:
            experiment = experiment_config(parse_experiment("--preset", name).preset, budget, task)
            assert experiment.base.warm_start == train_config.warm_start
    assert train_config.warm_start.model == preset(name).warm_start.model


def test_both_commands_take_the_same_preset_and_device_names_and_default_to_tiny(capsys):
    for parse_command in (parse, parse_experiment):
        for name in PRESETS:
            assert parse_command("--preset", name).preset == name
        for device in ("auto", "cpu", "cuda"):
            assert parse_command("--device", device).device == device
        for old_name in ("cpu", "cpu-smoke"):  # the names that meant different models in the two commands
            with pytest.raises(SystemExit):
                parse_command("--preset", old_name)
            assert "invalid choice: '" + old_name in capsys.readouterr().err
    assert list(PRESETS) == ["tiny", "small", "gpu"]
    assert parse().preset == parse_experiment().preset == "tiny"
    assert str(default_out("tiny", "default", "gpt")) == "results/llm-tiny-default"
    assert str(default_out("gpu", "smoke", "hf:/m")) == "results/llm-gpu-smoke-hf"
