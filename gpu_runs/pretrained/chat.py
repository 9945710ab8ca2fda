"""Chat-template prompts, sampling with the KV cache, and the completions' token log-probs.

A prompt is the model's own chat template around one user message (an optional system message first),
with the generation prompt appended; prompts are left-padded (the model's pad token, EOS where it has
none). Sampling is ``model.generate`` (KV cache on) at temperature T with no top-k / top-p filter, so at
T = 1 the completions are draws from the policy pi(o | q) itself. Each prompt is prefilled once and its
keys and values are repeated for its samples (a chat prompt with worked examples is ~10x longer than an
answer, so this is most of the sampling cost). A completion ends at the model's EOS
token, which belongs to it (log pi(o | q) includes the probability of stopping); tokens after it are
padding and masked. Sampling is seeded: ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``
(the caller's RNG state is left as it was); the same seed, batch size and thread count give the same
completions.

Log-probs are recomputed by :func:`completion_logprobs` with dropout off, positions counted from the
attention mask (cumsum - 1, as ``generate`` does), and the LM head applied to completion positions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gpu_runs.pretrained.models import LanguageModel


@dataclass(frozen=True)
class Completions:
    """``N`` sampled completions: ``prompt_ids`` (N, Tp) left-padded with ``prompt_mask``; ``completion_ids``
    (N, Tc) right-padded, ``completion_mask`` 1 on the completion's tokens up to and including its EOS;
    ``prompt_index`` (N,) the prompt each completion answers; ``texts`` decoded without special tokens;
    ``finished`` (N,) whether the completion reached EOS within the token limit."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    prompt_index: np.ndarray
    texts: list[str]
    finished: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, rows: Sequence[int] | np.ndarray) -> Completions:
        """The completions at ``rows``, in that order."""
        idx = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return Completions(self.prompt_ids[idx], self.prompt_mask[idx], self.completion_ids[idx],
                           self.completion_mask[idx], self.prompt_index[idx.numpy()],
                           [self.texts[i] for i in idx.tolist()], self.finished[idx.numpy()])


def render_prompts(lm: LanguageModel, questions: Sequence[str], system: str | None = None,
                   examples: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Each question inside the model's chat template: a ``system`` message if given, then the worked
    ``examples`` as earlier (user, assistant) turns, then the question, with the assistant's generation
    prompt appended."""
    texts = []
    for q in questions:
        messages = [{"role": "system", "content": system}] if system else []
        for user, assistant in examples:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append({"role": "user", "content": q})
        texts.append(lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return texts


def encode_left(lm: LanguageModel, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, T) and attention mask (B, T) of ``texts``, left-padded with the model's pad token;
    the chat template already holds every special token, so none is added."""
    enc = lm.tokenizer(list(texts), padding=True, padding_side="left", add_special_tokens=False,
                       return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def completion_mask(completion_ids: torch.Tensor, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, finished): mask (B, Tc) is 1 up to and including the first EOS of each row (every token of a
    row without EOS), ``finished`` (B,) whether the row has an EOS."""
    is_eos = completion_ids == eos_token_id
    finished = is_eos.any(dim=1)
    first = torch.where(finished, is_eos.float().argmax(dim=1), torch.full_like(finished, completion_ids.size(1),
                                                                               dtype=torch.long))
    cols = torch.arange(completion_ids.size(1)).unsqueeze(0)
    return (cols <= first.unsqueeze(1)).long(), finished


def sample_completions(lm: LanguageModel, prompts: Sequence[str], samples_per_prompt: int, *, max_new_tokens: int,
                       seed: int, temperature: float = 1.0, prompts_per_batch: int = 8) -> Completions:
    """``samples_per_prompt`` completions of each rendered prompt (see :func:`render_prompts`), sampled by
    ``model.generate`` with the KV cache at ``temperature``, no top-k/top-p; completion j of prompt i is row
    i * samples_per_prompt + j. Seeded by ``seed`` (see the module docstring)."""
    from transformers import GenerationConfig

    if samples_per_prompt < 1:
        raise ValueError(f"samples_per_prompt={samples_per_prompt} must be >= 1")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 1")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0 (sampling, not greedy decoding)")
    if prompts_per_batch < 1:
        raise ValueError(f"prompts_per_batch={prompts_per_batch} must be >= 1")
    config = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                              max_new_tokens=max_new_tokens, eos_token_id=lm.eos_token_id,
                              pad_token_id=lm.pad_token_id, use_cache=True)
    chunks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), prompts_per_batch):
            ids, mask = encode_left(lm, prompts[start:start + prompts_per_batch])
            rows = ids.repeat_interleave(samples_per_prompt, dim=0)
            row_mask = mask.repeat_interleave(samples_per_prompt, dim=0)
            cache = prompt_cache(lm.model, ids[:, :-1], mask[:, :-1])  # each prompt prefilled once ...
            cache.batch_repeat_interleave(samples_per_prompt)  # ... and its keys/values shared by its samples
            out = lm.model.generate(input_ids=rows, attention_mask=row_mask, cache=cache,
                                    generation_config=config)  # (b k, Tp + Tc); row i k + j: sample j of prompt i
            chunks.append((rows, row_mask, out[:, ids.size(1):]))
    Tp = max(c[0].size(1) for c in chunks)
    Tc = max(c[2].size(1) for c in chunks)
    pad = lm.pad_token_id
    prompt_ids = torch.cat([_pad_to(c[0], Tp, pad, left=True) for c in chunks])
    prompt_mask = torch.cat([_pad_to(c[1], Tp, 0, left=True) for c in chunks])
    raw = torch.cat([_pad_to(c[2], Tc, pad, left=False) for c in chunks])
    mask, finished = completion_mask(raw, lm.eos_token_id)
    completion_ids = torch.where(mask.bool(), raw, torch.full_like(raw, pad))
    texts = lm.tokenizer.batch_decode(completion_ids.masked_fill(~mask.bool(), pad), skip_special_tokens=True)
    prompt_index = np.repeat(np.arange(len(prompts)), samples_per_prompt)
    return Completions(prompt_ids, prompt_mask, completion_ids, mask, prompt_index, texts, finished.numpy())


def positions_of(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows: cumsum(mask) - 1, 0 on padding (as ``generate`` counts them)."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def prompt_cache(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> object:
    """The decoder's key/value cache of left-padded prompts ``ids`` (B, T) (a ``DynamicCache``)."""
    return model.get_decoder()(input_ids=ids, attention_mask=mask, position_ids=positions_of(mask),
                               use_cache=True).cache


def _pad_to(x: torch.Tensor, width: int, value: int, *, left: bool) -> torch.Tensor:
    extra = width - x.size(1)
    if extra == 0:
        return x
    fill = torch.full((x.size(0), extra), value, dtype=x.dtype)
    return torch.cat([fill, x] if left else [x, fill], dim=1)


def completion_logprobs(model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                        completion_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi(o_t | q, o_<t) (B, Tc) of every completion token, 0 where ``mask`` is 0; differentiable.

    One forward of the decoder on [prompt | completion] with positions cumsum(mask) - 1; the LM head runs
    only on the completion's real positions (the vocabulary is large, the completions short)."""
    if model.training:
        raise ValueError("model is in train mode; log-probs are those of the policy, with dropout off (eval())")
    ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (B, Tp + Tc)
    attention = torch.cat([prompt_mask, mask], dim=1)
    hidden = model.get_decoder()(input_ids=ids, attention_mask=attention, position_ids=positions_of(attention),
                                 use_cache=False).last_hidden_state  # (B, Tp + Tc, H)
    return logprobs_from_hidden(model, hidden, completion_ids, mask)


def logprobs_from_hidden(model: torch.nn.Module, hidden: torch.Tensor, completion_ids: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    """Token log-probs (B, Tc) of the completions from the decoder's final states ``hidden`` (B, Tp + Tc, H)
    of [prompt | completion]: the state before each completion token predicts it."""
    Tc = completion_ids.size(1)
    states = hidden[:, -Tc - 1:-1]  # (B, Tc, H)
    real = mask.bool()
    logits = model.get_output_embeddings()(states[real])  # (n_tokens, V)
    token_logp = torch.log_softmax(logits.float(), dim=-1).gather(1, completion_ids[real].unsqueeze(1)).squeeze(1)
    out = torch.zeros(mask.shape, dtype=token_logp.dtype)
    return out.masked_scatter(real, token_logp)


def sequence_logprobs(lm: LanguageModel, completions: Completions, *, batch_size: int = 32) -> np.ndarray:
    """log pi(o_i | q_i) = sum_t log pi(o_t | q, o_<t) of every completion (N,), dropout off, no gradient."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(completions), batch_size):
            sl = slice(start, start + batch_size)
            out.append(completion_logprobs(lm.model, completions.prompt_ids[sl], completions.prompt_mask[sl],
                                           completions.completion_ids[sl], completions.completion_mask[sl]).sum(1))
    return torch.cat(out).double().numpy()
