"""One GRPO configuration, our trainer against TRL's ``GRPOTrainer``, side by side in one run.

Both train a randomly initialised ~1M-parameter model (ours: the ``small`` preset's GPT; TRL's: a
``transformers`` ``LlamaForCausalLM`` of the same width, depth and parameter count, built from a
config, with a character tokenizer built here: nothing is downloaded) on addition prompts:
256 completions per optimizer step (16 prompts x G = 16), up to 8 new tokens, T = 1, one PPO
epoch, loss ``grpo``, eps 0.2 / 0.28, beta 0, 2 threads. Seconds per step are the median over
the steps after the first (warm-up); evaluation and logging are excluded from ours.

Two rewards, each run by both trainers: ``format`` (binary: as many digits as the answer, then
EOS), which an untrained model earns now and then, so some groups are silent, as in GRPO on
verifiable rewards, and our trainer skips them; and ``partial`` credit, which leaves almost no
group silent, so both do the full update and only the engineering differs (KV cache with one
prefill per group, one prompt forward per group in the update, less overhead). The target is
judged on the ``format`` run. Each trainer's mean reward is shown beside its speed: both must be
scored by the same verifier on the same text (TRL's completions pass through the tokenizer's
decoder first), or the comparison is between different tasks.

torch is imported inside the functions: the CLI's entry chooses the OpenMP wait policy
(``gpu_runs.cores.configure_omp_wait_policy``) before torch loads; both trainers run in one process,
so under the same policy, which the report names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from grpo_verify.bench import BenchReport

GROUP_SIZE, PROMPTS, NEW_TOKENS, THREADS = 16, 16, 8, 2
REWARD_KINDS = ("format", "partial")


@dataclasses.dataclass(frozen=True)
class TrainerRun:
    """One trainer's run: seconds of each optimizer step (ours without evaluation), parameters, the
    mean reward of its completions; ours also the update's share of a step and the silent fraction."""

    seconds: list[float]
    params: int
    mean_reward: float
    update_share: float | None = None
    silent: float | None = None


def our_config(steps: int, reward: str):
    from gpu_runs.config import preset

    base = preset("small")
    warm_start = dataclasses.replace(base.warm_start, steps=1, probe_prompts=1, probe_samples=1)
    return dataclasses.replace(base, warm_start=warm_start, steps=steps, group_size=GROUP_SIZE,
                               prompts_per_step=PROMPTS,
                               prompts_per_minibatch=PROMPTS, reward=reward, max_new_tokens=NEW_TOKENS,
                               track_kl=False, eval_every=10_000, checkpoint_every=10_000, eval_prompts=16,
                               threads=THREADS, device="cpu")


def run_ours(steps: int, reward: str, workdir: Path, run_name: str) -> TrainerRun:
    from gpu_runs.trainer import train

    summary = train(our_config(steps, reward), workdir / run_name, workdir / "cache", progress=False)
    rows = [json.loads(line) for line in (workdir / run_name / "log.jsonl").read_text().splitlines()][1:]
    seconds = [r["time_step"] - r["time_eval"] for r in rows]
    update = sum(r["time_update"] for r in rows[1:]) / max(sum(seconds[1:]), 1e-9)
    return TrainerRun(seconds, summary["params"], statistics.mean(r["reward_mean"] for r in rows), update,
                      statistics.mean(r["silent_fraction"] for r in rows))


def character_tokenizer():
    """A fast tokenizer over the task alphabet, one token per character, PAD and EOS first; it
    decodes by joining the characters (a word-level model alone would put spaces between them,
    and the verifier would see "1 2 3" for "123")."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from gpu_runs.tasks import ALPHABET

    vocab = {"<pad>": 0, "</s>": 1, **{c: i + 2 for i, c in enumerate(ALPHABET)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")


def step_timer(times: list[float]):
    """A TRL ``TrainerCallback`` that appends each optimizer step's seconds (step begin to step end) to ``times``."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    return StepTimer()


def run_trl(steps: int, reward: str, workdir: Path) -> TrainerRun:
    import torch
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from gpu_runs.tasks import build_splits
    from gpu_runs.tasks import reward as task_reward

    ours = our_config(steps, reward).warm_start
    tokenizer = character_tokenizer()
    n = ours.model.n_embd
    llama = LlamaConfig(vocab_size=len(tokenizer), hidden_size=n, intermediate_size=(8 * n) // 3,
                        num_hidden_layers=ours.model.n_layer, num_attention_heads=ours.model.n_head,
                        max_position_embeddings=ours.model.block_size, tie_word_embeddings=True,
                        pad_token_id=0, bos_token_id=1, eos_token_id=1)
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama)
    train, _ = build_splits(ours.task)
    problems = {p.prompt: p for p in train}
    dataset = Dataset.from_list([{"prompt": p.prompt} for p in train[:PROMPTS * (steps + 1)]])

    given: list[float] = []

    def reward_function(prompts, completions, **kwargs):
        values = [task_reward("addition", problems[p], c, reward) for p, c in zip(prompts, completions, strict=True)]
        given.extend(values)
        return values

    times: list[float] = []
    with warnings.catch_warnings():  # transformers' deprecation notices about TRL's own options
        warnings.simplefilter("ignore")
        args = GRPOConfig(output_dir=str(workdir / "trl"), use_cpu=True, bf16=False,
                          per_device_train_batch_size=GROUP_SIZE * PROMPTS, gradient_accumulation_steps=1,
                          num_generations=GROUP_SIZE,
                          max_completion_length=NEW_TOKENS, gradient_checkpointing=False,
                          max_steps=steps, learning_rate=1e-4, loss_type="grpo", beta=0.0, epsilon=0.2,
                          epsilon_high=0.28, temperature=1.0, report_to="none", logging_steps=10_000,
                          save_strategy="no", seed=0, dataloader_num_workers=0, disable_tqdm=True)
        trainer = GRPOTrainer(model=model, reward_funcs=reward_function, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[step_timer(times)])
        trainer.train()
    return TrainerRun(times, model.num_parameters(), statistics.mean(given))


def run(quick: bool = False) -> BenchReport:
    """Per reward, ``rounds`` alternating runs of both trainers (ours, TRL, ours, TRL, ...): a slow
    spell of a shared machine then falls on both, not on one. Seconds per step are the median over
    every round's steps after its first; the speed-up is their ratio, each round's shown too."""
    from gpu_runs.device import set_threads

    steps, rounds = (4, 1) if quick else (8, 3)
    set_threads(THREADS)
    load = os.getloadavg()[0]
    rows, ratios, notes = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for reward in REWARD_KINDS:
            ours, trl = [], []  # alternating: ours, TRL, ours, TRL, ...
            for r in range(rounds):
                ours.append(run_ours(steps, reward, Path(tmp), f"{reward}-{r}"))
                trl.append(run_trl(steps, reward, Path(tmp)))
            ours_s = statistics.median(x for run in ours for x in run.seconds[1:])
            trl_s = statistics.median(x for run in trl for x in run.seconds[1:])
            ratios[reward] = trl_s / ours_s
            for name, runs, seconds_per_step in (("grpo-verify", ours, ours_s),
                                                 ("TRL 1.16 GRPOTrainer (Llama)", trl, trl_s)):
                rows.append({"reward": reward, "trainer": name, "params": runs[0].params,
                             "mean reward": f"{statistics.mean(run.mean_reward for run in runs):.3f}",
                             "s/step": f"{seconds_per_step:.3f}",
                             "completions/s": f"{GROUP_SIZE * PROMPTS / seconds_per_step:.0f}",
                             "speed-up": f"{trl_s / seconds_per_step:.2f}x"})
            per_round = [statistics.median(b.seconds[1:]) / statistics.median(a.seconds[1:])
                         for a, b in zip(ours, trl, strict=True)]
            notes.append(f"{reward}: {statistics.mean(run.silent for run in ours):.0%} of our groups silent "
                         f"(skipped); the update is {statistics.mean(run.update_share for run in ours):.0%} of our "
                         "step; speed-up of each round " + ", ".join(f"{x:.2f}x" for x in per_round))
    return BenchReport(
        title=f"GRPO step: {GROUP_SIZE * PROMPTS} completions (G={GROUP_SIZE} x {PROMPTS} prompts), "
              f"<= {NEW_TOKENS} new tokens, {THREADS} threads, CPU",
        columns=("reward", "trainer", "params", "mean reward", "s/step", "completions/s", "speed-up"),
        rows=rows,
        targets={">= 3x TRL's completions per second (format reward)": ratios["format"] >= 3.0},
        notes=(*notes,
               f"{rounds} rounds of {steps} steps per trainer, alternating; median over the steps after each "
               "round's first; ours excludes evaluation; TRL runs without gradient checkpointing (its default "
               "recomputes the forward)",
               f"load average {load:.1f} on {os.cpu_count()} cores at the start, OMP_WAIT_POLICY="
               f"{os.environ.get('OMP_WAIT_POLICY', 'unset (spin, then sleep)')}: timings on a shared machine are "
               "noisy, and two threads on a busy machine wait for each other"),
    )
