"""The TRL round trip in miniature: an exported arm run by TRL 1.16's own ``GRPOTrainer`` for a few steps on CPU.

The model is a randomly initialised ``LlamaForCausalLM`` (hidden 16, one layer) built from a config, with a
character tokenizer built here (digits, '=', pad, EOS): nothing is downloaded. The task: 256 prompts
"abc=" of three seeded random digits; a completion earns 1 when it contains the prompt's first digit
(an untrained model does now and then, so some groups are silent and some are not). The arm's exported
``GRPOConfig`` options (:func:`gpu_runs.engines.trl_export.trl_config`) are kept, batch included; only what
a CPU run of a few steps needs is overridden (:data:`CPU_OVERRIDES`, ``max_steps``).

Needs torch, transformers and trl when called (imported inside the function). Command line:
``python -m gpu_runs.engines.trl_tiny OUT_DIR [--arm grpo2] [--steps 3]``.
"""

from __future__ import annotations

import argparse
import random
import warnings
from pathlib import Path
from typing import Any

from gpu_runs.engines.trl_export import trl_config

VOCAB = ("<pad>", "</s>", *"0123456789", "=")
PROMPTS = 256
CPU_OVERRIDES: dict[str, Any] = {
    "use_cpu": True, "bf16": False,           # CPU, fp32
    "max_completion_length": 8,               # short completions
    "gradient_checkpointing": False,          # nothing to save at this size
    "save_strategy": "no",                    # no checkpoints: the folder is logs only
    "num_completions_to_print": 1,            # TRL prints a sample table at each log with rich
    "disable_tqdm": True,
    "dataloader_num_workers": 0,
}


def task_prompts(seed: int = 0) -> list[str]:
    """PROMPTS distinct prompts 'abc=' of three digits, seeded."""
    rng = random.Random(seed)
    return [f"{n:03d}=" for n in rng.sample(range(1000), PROMPTS)]


def contains_first_digit(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    """1.0 when the completion contains the prompt's first digit, else 0.0 (TRL's reward-function signature)."""
    return [float(p[0] in c) for p, c in zip(prompts, completions, strict=True)]


def run_tiny_trl(output_dir: str | Path, *, arm: str = "grpo2", steps: int = 3, seed: int = 0,
                 threads: int = 1) -> dict[str, Any]:
    """Train the tiny model with ``arm``'s exported GRPOConfig for ``steps`` optimizer steps into ``output_dir``
    (trainer_state.json, completions/*.parquet); returns the GRPOConfig options used."""
    import torch
    from datasets import Dataset
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(threads)
    core = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(VOCAB)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()  # "123", not "1 2 3"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(VOCAB), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                                         pad_token_id=0, bos_token_id=1, eos_token_id=1, tie_word_embeddings=True))
    options = {**trl_config(arm, output_dir=str(output_dir), seed=seed), **CPU_OVERRIDES, "max_steps": steps}
    with warnings.catch_warnings():  # transformers' notices about options TRL sets for it
        warnings.simplefilter("ignore")
        trainer = GRPOTrainer(model=model, reward_funcs=contains_first_digit, args=GRPOConfig(**options),
                              train_dataset=Dataset.from_list([{"prompt": p} for p in task_prompts(seed)]),
                              processing_class=tokenizer)
        trainer.train()
    trainer.save_state()  # trainer_state.json at the top of output_dir
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description="run an exported arm with TRL on a tiny random model (CPU)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--arm", default="grpo2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run_tiny_trl(args.out, arm=args.arm, steps=args.steps, seed=args.seed)


if __name__ == "__main__":
    main()
