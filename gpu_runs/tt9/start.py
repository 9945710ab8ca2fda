"""Start policies of the TT-9 / VI-3 experiment: where each arm's RL run starts from.

- ``gpt`` (:func:`test_bed_start`): the test bed's transformer after its supervised warm start
  (:func:`gpu_runs.warmstart.load_or_train`, cached by its config hash).
- ``hf:PATH`` (:func:`hf_start`): a local Hugging Face causal LM as it is (no warm start).

A :class:`StartPolicy` carries the loader that :func:`gpu_runs.trainer.train` takes as its
``load_start`` argument, and a description that goes into every result.

The test bed speaks the character tokens of ``gpu_runs.tokenizer`` (PAD, EOS, then the task
alphabet). :class:`HFCharPolicy` maps each of them to one token of the model's tokenizer (every
alphabet character must be a token of its own; EOS -> ``eos_token_id``; PAD -> ``pad_token_id``,
else EOS) and returns the LM's logits on those tokens only: the policy is the LM's next-token law
restricted to, and renormalised over, the task's alphabet. Prompts are fed one character per
token, which may differ from how the tokenizer would split the text itself.

``gpu_runs.sampling.generate`` passes a :class:`gpu_runs.model.KVCache`; the wrapper keeps the
token history on it and recomputes the whole prefix at each token (sequences here are a few dozen
tokens), so any causal LM that accepts ``position_ids`` works.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from evidence.io import atomic_write_json
from gpu_runs.config import WarmStartConfig
from gpu_runs.tasks import ALPHABET
from gpu_runs.warmstart import LoadStart, load_or_train, measure_start_point


def char_token_ids(tokenizer: Any) -> list[int]:
    """Hugging Face token ids of [PAD, EOS, *ALPHABET] (the test bed's token order)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer has eos_token_id=None; the policy needs an end-of-sequence token")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    ids = []
    for c in ALPHABET:
        encoded = tokenizer.encode(c, add_special_tokens=False)
        if len(encoded) != 1:
            single = tokenizer.convert_tokens_to_ids(c)
            if single is None or single == tokenizer.unk_token_id:
                raise ValueError(f"character {c!r} is not a single token of the tokenizer (encoded as {encoded}); "
                                 "the task alphabet needs one token per character")
            encoded = [single]
        ids.append(int(encoded[0]))
    if len(set(ids) | {eos}) != len(ids) + 1:
        raise ValueError(f"tokenizer maps the alphabet {ALPHABET!r} and EOS to repeated ids {[*ids, eos]}")
    return [int(pad), int(eos), *ids]


class HFCharPolicy(nn.Module):
    """A causal LM restricted to the task's character tokens: logits (B, T, len(ALPHABET) + 2)."""

    def __init__(self, lm: nn.Module, token_ids: list[int], block_size: int):
        super().__init__()
        self.lm = lm
        self.register_buffer("token_map", torch.tensor(token_ids, dtype=torch.long), persistent=False)
        self.config = SimpleNamespace(n_layer=1, block_size=block_size)  # what KVCache reads

    def num_params(self) -> int:
        return sum(p.numel() for p in self.lm.parameters())

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None, cache: Any = None,
                positions: torch.Tensor | None = None, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V_char) for character tokens ``idx`` (B, T); ``attention_mask`` (B, S) covers
        the cached tokens too; a cache holds the history (``hf_ids``) instead of keys and values.
        Positions and the attention bias are derived from ``attention_mask`` (``positions`` and
        ``attn_bias``, which :class:`gpu_runs.model.GPT` may take from the sampler, say the same)."""
        B, T = idx.shape
        ids = idx
        if cache is not None:
            history = getattr(cache, "hf_ids", None)
            if history is not None:
                if history.size(0) != B:  # the prefill was shared by a group: one copy per sample
                    history = history.repeat_interleave(B // history.size(0), dim=0)
                ids = torch.cat([history, idx], dim=1)
            cache.hf_ids = ids
            cache.advance(ids.size(1))
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.long()
        position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)  # real tokens only, as gpu_runs.model
        logits = self.lm(input_ids=self.token_map[ids], attention_mask=mask, position_ids=position_ids).logits
        return logits[:, -T:].index_select(-1, self.token_map)  # (B, T, V_char)


def load_hf_policy(path: str | Path, block_size: int, device: torch.device) -> HFCharPolicy:
    """The model and tokenizer saved under ``path`` (local files only), wrapped."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"model path={str(path)!r} is not a folder holding a Hugging Face model and tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, torch_dtype=torch.float32)
    return HFCharPolicy(lm, char_token_ids(tokenizer), block_size).to(device).eval()


@dataclass(frozen=True)
class StartPolicy:
    """Where the policies come from: ``load`` (the start model and its record, the ``load_start``
    of :func:`gpu_runs.trainer.train`) and ``description`` (written into every result)."""

    load: LoadStart
    description: dict[str, Any] = field(default_factory=dict)


def test_bed_start() -> StartPolicy:
    """The test bed's transformer after its cached supervised warm start."""
    return StartPolicy(load_or_train, {"model": "gpt"})


def hf_start(path: str) -> StartPolicy:
    """The Hugging Face model at ``path`` as it is (no supervised warm start); its start point is
    measured as the test bed measures a warm start and cached as ``hf-<path digest>-<config key>``."""
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]

    def load(config: WarmStartConfig, cache_dir: Path, device: torch.device, *,
             progress: bool = True) -> tuple[HFCharPolicy, dict[str, Any]]:
        model = load_hf_policy(path, config.model.block_size, device)
        key = f"hf-{digest}-{config.key()}"
        record_path = Path(cache_dir) / key / "warmstart.json"
        if record_path.exists():
            return model, {**json.loads(record_path.read_text()), "cache_hit": True, "folder": str(record_path.parent)}
        record = {"key": key, "model": str(path), "params": model.num_params(),
                  **measure_start_point(model, config, seed=config.seed,  # type: ignore[arg-type]
                                        max_new_tokens=config.task.max_answer_len + 1)}
        atomic_write_json(record_path, record)
        return model, {**record, "cache_hit": False, "folder": str(record_path.parent)}

    return StartPolicy(load, {"model": f"hf:{path}"})


def start_policy(model: str) -> StartPolicy:
    """``gpt``: :func:`test_bed_start`; ``hf:PATH``: :func:`hf_start` of PATH."""
    if model == "gpt":
        return test_bed_start()
    if model.startswith("hf:") and len(model) > 3:
        return hf_start(model.removeprefix("hf:"))
    raise ValueError(f"model={model!r} is not allowed; use gpt or hf:PATH")
