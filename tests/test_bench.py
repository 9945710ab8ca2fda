"""The LLM benchmarks run end to end in their quick form and measure what they say (issue 7). Their
timings are never asserted: only what a run must get right whatever the machine's speed.

``bench step`` needs trl (the ``peers`` extra): it skips without it outside CI and fails in CI, as
the TRL cross-check does.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from grpo_verify.bench import rollouts, step


def test_rollouts_bench_samples_the_same_tokens_with_and_without_the_cache() -> None:
    report = rollouts.run(quick=True)
    assert {row["sampler"] for row in report.rows} == {"KV cache (prefill once per group)", "recompute the prefix"}
    assert all(row["same tokens"] is True for row in report.rows)
    assert all(float(row["tokens/s"]) > 0 for row in report.rows)
    assert len(report.targets) == 2 and any("rollout" in note and "update" in note for note in report.notes)


def test_step_bench_compares_same_sized_models_on_both_rewards() -> None:
    if importlib.util.find_spec("trl") is None:
        if "CI" in os.environ:
            pytest.fail("CI is set: the step benchmark must run; install the extra: pip install -e .[peers]")
        pytest.skip("trl is not installed (pip install -e .[peers])")
    report = step.run(quick=True)
    assert [(row["reward"], row["trainer"].split()[0]) for row in report.rows] == [
        ("format", "grpo-verify"), ("format", "TRL"), ("partial", "grpo-verify"), ("partial", "TRL")]
    ours, trl = report.rows[0]["params"], report.rows[1]["params"]
    assert abs(ours - trl) / trl < 0.01  # the comparison is between models of one size
    assert all(float(row["s/step"]) > 0 and 0 <= float(row["mean reward"]) <= 1 for row in report.rows)
    assert list(report.targets) == [">= 3x TRL's completions per second (format reward)"]
    assert any(note.startswith("format:") and "silent" in note for note in report.notes)


def test_trl_side_decodes_completions_as_our_tokenizer_does() -> None:
    """TRL's reward function reads text that its tokenizer decoded: it must be the text our own
    decoder gives for the same tokens (a word-level decoder would put spaces between characters,
    and no completion would ever verify)."""
    if importlib.util.find_spec("transformers") is None:
        if "CI" in os.environ:
            pytest.fail("CI is set: the step benchmark must run; install the extra: pip install -e .[peers]")
        pytest.skip("transformers is not installed (pip install -e .[peers])")
    from gpu_runs.tasks import ALPHABET
    from gpu_runs.tokenizer import EOS, CharTokenizer

    hf = step.character_tokenizer()
    ours = CharTokenizer()
    for text in ("123", "98+7=", ALPHABET):
        ids = ours.encode(text)
        assert hf(text)["input_ids"] == ids
        assert hf.decode([*ids, EOS], skip_special_tokens=True) == ours.decode([*ids, EOS]) == text


def test_pretrained_step_bench_trains_the_same_parameters_on_both_sides() -> None:
    """``bench step --model tiny-random --quick``: both trainers on one loaded model, the same parameters trainable
    (TRL's copy frozen as ours: the run itself refuses to go on otherwise), each timed, the ratio stated."""
    if importlib.util.find_spec("trl") is None:
        if "CI" in os.environ:
            pytest.fail("CI is set: the step benchmark must run; install the extra: pip install -e .[peers]")
        pytest.skip("trl is not installed (pip install -e .[peers])")
    from grpo_verify.bench import step_pretrained

    report = step_pretrained.run(quick=True, model="tiny-random")
    assert [row["trainer"].split()[0] for row in report.rows] == ["grpo-verify", "TRL"]
    ours, trl = report.rows
    assert ours["trainable"] == trl["trainable"] == "top2: 73,984"  # the tiny Llama's two decoder layers
    assert all(float(row["s/step"]) > 0 and 0 <= float(row["mean reward"]) <= 1 for row in report.rows)
    assert float(trl["speed-up"][:-1]) == 1.0 and float(ours["speed-up"][:-1]) > 0
    assert list(report.targets) == [">= 1.5x TRL's completions per second"]


def test_bench_model_applies_to_the_step_benchmark_only(capsys: pytest.CaptureFixture[str]) -> None:
    from grpo_verify.cli import main

    assert main(["bench", "grpovi", "--model", "tiny-random"]) == 2
    assert "--model='tiny-random' is allowed with the step benchmark only" in capsys.readouterr().err
    assert main(["bench", "step", "--model", "gpt2"]) == 2
    assert "--model='gpt2' is not allowed" in capsys.readouterr().err
