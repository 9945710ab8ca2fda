"""A small decoder-only transformer (nanoGPT-style): pre-norm blocks, causal attention through
``scaled_dot_product_attention``, learned positions, an optional KV cache for sampling.

Sequences may be left-padded: ``attention_mask`` (B, T) marks real tokens, positions count real
tokens only (so a padded prompt sees the same positions as an unpadded one), and no query
attends to a pad key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gpu_runs.config import GPTConfig


class KVCache:
    """Keys and values of every layer for a batch of sequences, extended left to right; ``length``
    tokens are stored.

    With ``max_len`` (sampling, no gradient) they are written in place into buffers of that many
    positions; without it they grow by concatenation, which autograd can flow through: the trainer
    runs one prompt's forward once and shares its keys and values with the group.
    """

    def __init__(self, n_layer: int, max_len: int | None = None):
        self.max_len = max_len
        self.k: list[torch.Tensor | None] = [None] * n_layer  # per layer (B, nh, max_len or S, hs)
        self.v: list[torch.Tensor | None] = [None] * n_layer
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, nh, T, hs) keys/values after the cached ones; return all of them (B, nh, S, hs)."""
        cached_k, cached_v = self.k[layer], self.v[layer]
        if self.max_len is None:
            if cached_k is not None and cached_v is not None:
                k, v = torch.cat([cached_k, k], dim=2), torch.cat([cached_v, v], dim=2)
            self.k[layer], self.v[layer] = k, v
            return k, v
        if cached_k is None or cached_v is None:  # allocated by the first write, in its dtype (bf16 under autocast)
            B, nh, _, hs = k.shape
            cached_k, cached_v = k.new_zeros(B, nh, self.max_len, hs), v.new_zeros(B, nh, self.max_len, hs)
            self.k[layer], self.v[layer] = cached_k, cached_v
        end = self.length + k.size(2)
        cached_k[:, :, self.length:end] = k
        cached_v[:, :, self.length:end] = v
        return cached_k[:, :, :end], cached_v[:, :, :end]

    def repeat_interleave(self, repeats: int) -> None:
        """Each sequence becomes ``repeats`` copies in a row (one prompt's prefill shared by its group)."""
        self.k = [None if k is None else k.repeat_interleave(repeats, dim=0) for k in self.k]
        self.v = [None if v is None else v.repeat_interleave(repeats, dim=0) for v in self.v]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, nh, S, hs), S = cached + T
        if T == 1 and not self.training:  # one query per row (sampling): plain matmuls beat the fused kernel's setup
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, 1, S)
            y = att.masked_fill(~attn_mask, float("-inf")).softmax(dim=-1) @ v  # (B, nh, 1, hs)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                               dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attn_mask, cache, layer)  # pre-norm: the residual stream is never normalised
        return x + self.mlp(self.ln_2(x))


def attention_mask_4d(attention_mask: torch.Tensor, query_len: int) -> torch.Tensor:
    """(B, 1, T, S) booleans: query t (the last ``query_len`` of S positions) may see key s iff
    s <= t and key s is a real token; every query also sees itself, so a pad query never has an
    empty row (which would make softmax NaN) and real tokens never see pads."""
    S = attention_mask.size(1)
    keys = torch.arange(S, device=attention_mask.device)
    queries = keys[S - query_len:, None]                                # (T, 1)
    causal = keys[None, :] <= queries                                   # (T, S)
    visible = causal[None] & attention_mask[:, None, :].bool()          # (B, T, S)
    visible = visible | (keys[None, :] == queries)[None]
    return visible[:, None]                                             # (B, 1, T, S)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one embedding reads and writes tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: residual projections scaled by depth keep the stream's variance
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Number of parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, vocab) for tokens ``idx`` (B, T).

        ``attention_mask`` (B, S) marks real tokens among all S = cached + T positions (None: all
        real); ``positions`` (B, T) default to the count of real tokens before each one.
        """
        B, T = idx.size()
        S = T + (cache.length if cache is not None else 0)
        if S > self.config.block_size:
            raise ValueError(f"sequence length {S} exceeds block_size={self.config.block_size}")
        if attention_mask is None:
            attention_mask = torch.ones(B, S, dtype=torch.long, device=idx.device)
        if positions is None:
            positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)[:, S - T:]  # (B, T)
        mask = attention_mask_4d(attention_mask, T)  # (B, 1, T, S)
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, mask, cache, layer)
        if cache is not None:
            cache.length = S
        return self.lm_head(self.ln_f(x))  # (B, T, vocab)
