"""Batched sampling with a KV cache, and teacher-forced log-probs of given completions.

Prompts are left-padded (B, Tp); each is sampled ``group_size`` times in a row (its group of G
rollouts), its prefill computed once and the cache copied. A sequence stops at its first EOS (EOS is part of the
completion, as in TRL); later positions hold PAD and mask 0. Log-probs are those of the
tempered policy softmax(logits / T), before top-p truncation, as TRL's GRPOTrainer computes them;
greedy decoding reports them at T = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gpu_runs.device import autocast
from gpu_runs.model import GPT, KVCache
from gpu_runs.tokenizer import EOS, PAD


@dataclass
class Samples:
    """Prompts and sampled completions; row i*G + j is sample j of prompt i."""

    prompt_ids: torch.Tensor       # (N, Tp) left-padded
    prompt_mask: torch.Tensor      # (N, Tp) 1 on prompt tokens
    completion_ids: torch.Tensor   # (N, Tc) right-padded, EOS included
    completion_mask: torch.Tensor  # (N, Tc) float, 1 up to and including the first EOS
    token_logp: torch.Tensor       # (N, Tc) log pi(token) under the tempered policy, 0 on padding
    entropy: torch.Tensor          # (N, Tc) entropy of the tempered next-token law, 0 on padding

    @property
    def seq_logp(self) -> torch.Tensor:
        """log pi(o | q) = sum_t log pi(o_t | q, o_<t), shape (N,)."""
        return self.token_logp.sum(dim=1)


def pad_columns(x: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    """``x`` (N, T) widened to ``width`` columns by ``value`` on the left or right."""
    pad = x.new_full((x.size(0), width - x.size(1)), value)
    return torch.cat([pad, x] if left else [x, pad], dim=1)


def concat_samples(parts: list[Samples]) -> Samples:
    """Rows of every part, prompts re-padded on the left and completions on the right."""
    Tp = max(s.prompt_ids.size(1) for s in parts)
    Tc = max(s.completion_ids.size(1) for s in parts)
    return Samples(
        prompt_ids=torch.cat([pad_columns(s.prompt_ids, Tp, PAD, True) for s in parts]),
        prompt_mask=torch.cat([pad_columns(s.prompt_mask, Tp, 0, True) for s in parts]),
        completion_ids=torch.cat([pad_columns(s.completion_ids, Tc, PAD, False) for s in parts]),
        completion_mask=torch.cat([pad_columns(s.completion_mask, Tc, 0.0, False) for s in parts]),
        token_logp=torch.cat([pad_columns(s.token_logp, Tc, 0.0, False) for s in parts]),
        entropy=torch.cat([pad_columns(s.entropy, Tc, 0.0, False) for s in parts]),
    )


def select_rows(samples: Samples, rows: torch.Tensor, *, trim: bool = False) -> Samples:
    """The given rows; with ``trim``, columns that are padding in every selected row are dropped."""
    s = Samples(**{name: getattr(samples, name)[rows] for name in Samples.__dataclass_fields__})
    if not trim:
        return s
    first = int(s.prompt_mask.any(dim=0).long().argmax())           # first prompt column anyone uses
    last = int(s.completion_mask.any(dim=0).long().cumsum(0).argmax()) + 1  # after the last used completion column
    return Samples(s.prompt_ids[:, first:], s.prompt_mask[:, first:], s.completion_ids[:, :last],
                   s.completion_mask[:, :last], s.token_logp[:, :last], s.entropy[:, :last])


def check_sampling_args(max_new_tokens: int, temperature: float, top_p: float) -> None:
    """ValueError unless max_new_tokens >= 1, temperature > 0 and 0 < top_p <= 1."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be an integer >= 1")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p!r} must lie in (0, 1]")


def pick_tokens(
    logits: torch.Tensor, *, temperature: float, top_p: float, greedy: bool, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(token, log pi(token), entropy), each (N,), from next-token logits (N, V)."""
    scaled = logits.float() if greedy or temperature == 1.0 else logits.float() / temperature
    logp = F.log_softmax(scaled, dim=-1)  # (N, V)
    probs = logp.exp()
    entropy = -(probs * logp).sum(dim=-1)
    if greedy:
        token = logp.argmax(dim=-1)
    else:
        if top_p < 1.0:  # keep the smallest set of most likely tokens whose mass reaches top_p
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
            probs = probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return token, logp.gather(1, token[:, None]).squeeze(1), entropy


def generate(
    model: GPT,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    group_size: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Samples:
    """Sample ``group_size`` completions of each left-padded prompt (B, Tp): N = B * group_size rows,
    row i*G + j sample j of prompt i.

    ``use_cache=False`` recomputes the whole prefix at every token (the reference the KV cache is
    tested and benchmarked against); both draw the same random numbers, so a seed gives the same
    samples either way.
    """
    check_sampling_args(max_new_tokens, temperature, top_p)
    if group_size < 1:
        raise ValueError(f"group_size={group_size!r} must be an integer >= 1")
    was_training = model.training
    model.eval()
    with torch.inference_mode():  # no autograd bookkeeping at all: ~5% faster than no_grad here
        samples = _sample(model, prompt_ids, prompt_mask, max_new_tokens, group_size, temperature, top_p, greedy,
                          generator, use_cache)
    model.train(was_training)
    # clones made outside inference mode are ordinary tensors, which the update may save for backward
    return Samples(**{name: getattr(samples, name).clone() for name in Samples.__dataclass_fields__})


def _sample(model: GPT, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, max_new_tokens: int, group_size: int,
            temperature: float, top_p: float, greedy: bool, generator: torch.Generator | None,
            use_cache: bool) -> Samples:
    """The sampling loop of :func:`generate` (arguments checked there).

    With the cache, what the model needs for the next token is kept up to date one column per
    token instead of being rebuilt from the mask at every step: the attention bias (a sampled
    token's column becomes 0 if it is real) and the positions (a live row's next token sits at
    prompt length + t). Tokens, log-probs and entropies of finished rows are masked once at the end.
    """
    device = prompt_ids.device
    Tp = prompt_ids.size(1)
    ids = prompt_ids.repeat_interleave(group_size, dim=0)  # (N, Tp); grows only without the cache
    N = ids.size(0)
    mask = torch.cat([prompt_mask.repeat_interleave(group_size, dim=0), prompt_mask.new_zeros(N, max_new_tokens)],
                     dim=1)  # (N, Tp + max_new_tokens): column Tp + t is set when token t is drawn
    tokens, logps, entropies = [], [], []
    alive = torch.ones(N, dtype=torch.bool, device=device)
    cache = KVCache(model.config.n_layer, Tp + max_new_tokens) if use_cache else None
    with autocast(device):
        if cache is not None:  # prefill each prompt once, then copy it to its group
            logits = model(prompt_ids, prompt_mask, cache)[:, -1].repeat_interleave(group_size, dim=0)
            cache.repeat_interleave(group_size)
            bias = torch.full((N, 1, 1, cache.width), float("-inf"), device=device)  # 0 where a key is seen
            bias[:, 0, 0, :Tp].masked_fill_(mask[:, :Tp].bool(), 0.0)
            prompt_len = mask[:, :Tp].sum(dim=1, keepdim=True)  # (N, 1)
        for t in range(max_new_tokens):
            if cache is None:
                logits = model(ids, mask[:, :Tp + t])[:, -1]  # (N, V): the whole prefix again
            token, logp, entropy = pick_tokens(logits, temperature=temperature, top_p=top_p, greedy=greedy,
                                               generator=generator)
            tokens.append(token)
            logps.append(logp)
            entropies.append(entropy)
            mask[:, Tp + t] = alive  # token t is real iff its row was alive when it was drawn
            if cache is not None:  # its key is seen from now on iff it is real
                bias[:, 0, 0, Tp + t].masked_fill_(alive, 0.0)
            else:
                ids = torch.cat([ids, token[:, None]], dim=1)
            alive = alive & (token != EOS)
            if t == max_new_tokens - 1 or not bool(alive.any()):
                break
            if cache is not None:  # one new token per row
                logits = model(token[:, None], mask[:, :Tp + t + 1], cache, positions=prompt_len + t,
                               attn_bias=bias)[:, -1]  # (N, V)
    completion_mask = mask[:, Tp:Tp + len(tokens)].bool()  # (N, Tc)
    return Samples(
        prompt_ids=ids[:, :Tp],
        prompt_mask=mask[:, :Tp],
        completion_ids=torch.stack(tokens, dim=1).masked_fill(~completion_mask, PAD),
        completion_mask=completion_mask.float(),
        token_logp=torch.where(completion_mask, torch.stack(logps, dim=1), 0.0),
        entropy=torch.where(completion_mask, torch.stack(entropies, dim=1), 0.0),
    )


def completion_logprobs(
    model: GPT,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    group_size: int = 1,
) -> torch.Tensor:
    """log pi(o_t | q, o_<t) for every completion token, teacher-forced, (N, Tc); 0 on padding.
    Differentiable (the trainer's policy log-probs).

    Rows i*G .. i*G + G-1 (G = ``group_size``) must share their prompt: it is run once and its keys
    and values are shared by the group, the same numbers as G separate prompt forwards (and their
    gradients add up through the copy).
    """
    N = prompt_ids.size(0)
    if group_size < 1 or N % group_size:
        raise ValueError(f"group_size={group_size!r} must be >= 1 and divide the {N} rows")
    cache = KVCache(model.config.n_layer)
    mask = torch.cat([prompt_mask, completion_mask.long()], dim=1)                      # (N, Tp + Tc)
    with autocast(prompt_ids.device):
        logits = model(prompt_ids[::group_size], prompt_mask[::group_size], cache)[:, -1:]  # (P, 1, V): predicts o_1
        logits = logits.repeat_interleave(group_size, dim=0)                               # (N, 1, V)
        cache.repeat_interleave(group_size)
        if completion_ids.size(1) > 1:  # o_1 .. o_{Tc-1} predict o_2 .. o_Tc
            logits = torch.cat([logits, model(completion_ids[:, :-1], mask[:, :-1], cache)], dim=1)  # (N, Tc, V)
    logp = F.log_softmax(logits.float() / temperature, dim=-1)
    token_logp = logp.gather(2, completion_ids[:, :, None]).squeeze(2)                  # (N, Tc)
    return token_logp * completion_mask
