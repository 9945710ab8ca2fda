"""``bench step --model M``: our GRPO step against TRL's ``GRPOTrainer`` on a pretrained LM (issue 16, item 6).

Both train the same loaded model (each its own copy) with the same trainable parameters (``top2``: the same
parameters frozen on TRL's copy; LoRA would hand TRL the same peft config), on the same chat prompts (the study's
format; TRL gets them as conversations and renders them with the same chat template), the same group size G,
completion length, temperature 1 with no top-k/top-p, learning rate, clip range and loss (TRL 1.16's defaults:
lr 1e-6, max_grad_norm 1, beta 0, epsilon 0.2, ``dapo``), one generation per optimizer step, 2 threads. Both score
completions with one reward function (:func:`gpu_runs.pretrained.arithmetic.rewards`) on the text their tokenizer
decoded with special tokens skipped. TRL runs without gradient checkpointing (its default recomputes the forward).

A step is everything between two updates: sampling, rewards, log-probs, backward, optimizer. Ours samples with the
KV cache and one prefill per prompt, and skips silent groups in the update (whose gradient is 0), where the prompt of
a group runs forward once for its G completions; TRL generates each of the G rows of a prompt with its own prefill
and runs every completion through the update. Seconds per step: the median over the steps after the first
(warm-up); ours first, then TRL's, in one process.
"""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grpo_verify.bench import BenchReport
from grpo_verify.bench.step import TrainerRun, step_timer

THREADS = 2
TRAINABLE = "top2"
TARGET = 1.5
"""Issue 16, item 6: our completions per second at least this multiple of TRL's."""


@dataclass(frozen=True)
class BenchSizes:
    """``prompts`` per step x ``group_size`` completions of at most ``new_tokens`` tokens, for ``steps`` steps (the
    first a warm-up)."""

    prompts: int
    group_size: int
    new_tokens: int
    steps: int


SIZES = {"quick": BenchSizes(prompts=2, group_size=4, new_tokens=4, steps=2),
         "default": BenchSizes(prompts=8, group_size=16, new_tokens=8, steps=3)}


def problems_for(sizes: BenchSizes) -> list:
    """The prompts of the run: ``steps`` x ``prompts`` arithmetic problems (seed 0), the same for both."""
    from gpu_runs.pretrained import arithmetic

    return arithmetic.make_problems(sizes.steps * sizes.prompts, seed=0)


def grpo_settings(sizes: BenchSizes, reward: str):
    from gpu_runs.pretrained.grpo import GRPOSettings
    from gpu_runs.pretrained.trainable import Trainable

    trainable = Trainable(TRAINABLE)
    return GRPOSettings(group_size=sizes.group_size, prompts_per_step=sizes.prompts, steps=sizes.steps,
                        max_new_tokens=sizes.new_tokens, learning_rate=trainable.default_learning_rate,
                        trainable=trainable, reward=reward, loss_type="dapo")


def run_ours(lm, sizes: BenchSizes, reward: str) -> TrainerRun:
    from gpu_runs.pretrained.grpo import train
    from gpu_runs.pretrained.study import FORMAT
    from gpu_runs.pretrained.trainable import count_trainable

    policy, rows = train(lm, grpo_settings(sizes, reward), problems_for(sizes), prompt_format=FORMAT, seed=0)
    return TrainerRun([r["seconds_rollout"] + r["seconds_update"] for r in rows], count_trainable(policy.model),
                      statistics.mean(r["reward_mean"] for r in rows),
                      silent=statistics.mean(r["silent_fraction"] for r in rows))


def conversation(question: str) -> list[dict[str, str]]:
    """The study's chat around ``question`` as messages (what :func:`gpu_runs.pretrained.chat.render_prompts`
    renders), for TRL to render with the same template."""
    from gpu_runs.pretrained.study import FORMAT

    messages = [{"role": "system", "content": FORMAT.system}] if FORMAT.system else []
    for user, assistant in FORMAT.examples:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return [*messages, {"role": "user", "content": question}]


def plain_copy(model):
    """A copy of ``model`` rebuilt from its config and weights: a model read from a GGUF file is fp32 after
    de-quantizing, yet still flagged as quantized, and Trainer refuses to fine-tune a quantized model."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    config.quantization_config = None
    fresh = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    fresh.load_state_dict(model.state_dict())
    return fresh.eval()


def run_trl(lm, sizes: BenchSizes, reward: str, workdir: Path) -> TrainerRun:
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from gpu_runs.pretrained import arithmetic
    from gpu_runs.pretrained.grpo import trainable_count
    from gpu_runs.pretrained.trainable import Trainable, count_trainable, make_trainable

    trainable = Trainable(TRAINABLE)
    model = make_trainable(plain_copy(lm.model), trainable)  # the same parameters frozen as ours
    problems = problems_for(sizes)
    dataset = Dataset.from_list([{"prompt": conversation(p.question), "answer": p.answer} for p in problems])
    given: list[float] = []

    def reward_function(prompts, completions, answer, **kwargs):
        texts = [c[0]["content"] for c in completions]  # TRL's decode, special tokens skipped (as ours)
        values = arithmetic.rewards(texts, np.asarray(answer, dtype=np.float64), reward).tolist()
        given.extend(values)
        return values

    times: list[float] = []
    settings = grpo_settings(sizes, reward)
    with warnings.catch_warnings():  # transformers' deprecation notices about TRL's own options
        warnings.simplefilter("ignore")
        args = GRPOConfig(output_dir=str(workdir / "trl"), use_cpu=True, bf16=False,
                          per_device_train_batch_size=sizes.group_size * sizes.prompts, gradient_accumulation_steps=1,
                          num_generations=sizes.group_size, max_completion_length=sizes.new_tokens,
                          gradient_checkpointing=False, max_steps=sizes.steps, learning_rate=settings.learning_rate,
                          max_grad_norm=settings.max_grad_norm, loss_type=settings.loss_type, beta=0.0,
                          epsilon=settings.epsilon, temperature=settings.temperature, top_k=0, top_p=1.0,
                          shuffle_dataset=False, report_to="none", logging_steps=10_000, save_strategy="no", seed=0,
                          dataloader_num_workers=0, disable_tqdm=True)
        trainer = GRPOTrainer(model=model, reward_funcs=reward_function, args=args, train_dataset=dataset,
                              processing_class=copy.deepcopy(lm.tokenizer), callbacks=[step_timer(times)])
        trainer.remove_callback(PrinterCallback)  # its log lines would break the table
        counted = count_trainable(trainer.model)
        if counted != trainable_count(lm, trainable):
            raise RuntimeError(f"TRL's copy trains {counted} parameters, ours {trainable_count(lm, trainable)}")
        trainer.train()
    return TrainerRun(times, counted, statistics.mean(given))


def run(quick: bool = False, model: str = "smollm2-135m") -> BenchReport:
    """Ours, then TRL's, on ``model`` (``quick``: the small sizes); completions per second of each, their ratio."""
    from gpu_runs.device import set_threads
    from gpu_runs.pretrained.models import TINY, load_model

    sizes = SIZES["quick" if quick else "default"]
    reward = "number" if model == TINY else "answer"  # the random model never answers: a format reward mixes groups
    set_threads(THREADS)
    load = os.getloadavg()[0]
    lm = load_model(model)
    completions = sizes.prompts * sizes.group_size
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_ours(lm, sizes, reward)
        trl = run_trl(lm, sizes, reward, Path(tmp))
    ours_s, trl_s = statistics.median(ours.seconds[1:]), statistics.median(trl.seconds[1:])
    ratio = trl_s / ours_s
    rows = [{"trainer": name, "model": lm.name, "trainable": f"{TRAINABLE}: {r.params:,}",
             "mean reward": f"{r.mean_reward:.3f}", "s/step": f"{s:.3f}", "completions/s": f"{completions / s:.1f}",
             "speed-up": f"{trl_s / s:.2f}x"}
            for name, r, s in (("grpo-verify", ours, ours_s), ("TRL 1.16 GRPOTrainer", trl, trl_s))]
    return BenchReport(
        title=f"GRPO step on {lm.name}: {completions} completions (G={sizes.group_size} x {sizes.prompts} prompts), "
              f"<= {sizes.new_tokens} new tokens, T = 1, trainable {TRAINABLE}, {THREADS} threads, CPU",
        columns=("trainer", "model", "trainable", "mean reward", "s/step", "completions/s", "speed-up"),
        rows=rows,
        targets={f">= {TARGET}x TRL's completions per second": ratio >= TARGET},
        notes=(f"reward `{reward}` for both, on the text each decoded; {ours.silent:.0%} of our groups silent "
               "(skipped in our update; TRL computes them)",
               f"{sizes.steps} steps per trainer, median over the steps after the first; per-step seconds: ours "
               + ", ".join(f"{x:.2f}" for x in ours.seconds) + "; TRL " + ", ".join(f"{x:.2f}" for x in trl.seconds),
               "same settings on both: lr 1e-6, max_grad_norm 1, beta 0, epsilon 0.2, loss dapo, no gradient "
               "checkpointing, prompts in the same order",
               f"load average {load:.1f} on {os.cpu_count()} cores at the start, OMP_WAIT_POLICY="
               f"{os.environ.get('OMP_WAIT_POLICY', 'unset (spin, then sleep)')}: timings on a shared machine are "
               "noisy"),
    )
