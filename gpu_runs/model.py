"""A small decoder-only transformer (nanoGPT-style): pre-norm blocks, causal attention through
``scaled_dot_product_attention``, learned positions, an optional KV cache for sampling.

Sequences may be left-padded: ``attention_mask`` (B, T) marks real tokens, positions count real
tokens only (so a padded prompt sees the same positions as an unpadded one), and no query
attends to a pad key.

Only real tokens are computed: every per-token layer (embeddings, layer norms, the linear maps,
the MLP) runs on the packed (n, C) real tokens, and only attention sees the (B, T) grid, with
zeros at the pads. Completions that stopped early (sampling) or are shorter than the batch's
longest (training) cost nothing there; a pad position's logits are 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gpu_runs.config import GPTConfig

KV_WIDTH = 16  # attention reads keys in widths that are a multiple of this


def key_width(length: int) -> int:
    """``length`` keys rounded up to a multiple of ``KV_WIDTH``: CPU kernels for batched small
    matmuls, softmax and fused attention are 1.5-10x faster at such widths than at odd ones
    (measured on this project's machines); the extra keys are zeros that attention never sees."""
    return -(-length // KV_WIDTH) * KV_WIDTH


class KVCache:
    """Keys and values of every layer for a batch of sequences, extended left to right; ``length``
    tokens are stored.

    With ``max_len`` (sampling, no gradient) they are written in place into zeroed buffers
    ``key_width(max_len)`` wide, and attention reads the whole buffer, its unwritten columns
    masked. Without ``max_len`` they grow by concatenation, which autograd can flow through: the
    trainer runs one prompt's forward once and shares its keys and values with the group, and
    the group's copies are made by the concatenation itself (``group_size`` rows per stored row).
    """

    def __init__(self, n_layer: int, max_len: int | None = None):
        self.width = None if max_len is None else key_width(max_len)
        self.k: list[torch.Tensor | None] = [None] * n_layer  # per layer (B, nh, width or S, hs)
        self.v: list[torch.Tensor | None] = [None] * n_layer
        self.length = 0
        self.group_size = 1  # growing cache: each stored row stands for this many rows in a row (its group)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, nh, T, hs) keys/values after the cached ones; return the (B, nh, width, hs) keys
        and values attention reads: the cached + T stored ones, then zeros (``width`` is the
        buffer's width with ``max_len``, else any width >= cached + T)."""
        if self.width is None:
            end = self.length + k.size(2)
            k, v = self._joined(self.k[layer], k, width), self._joined(self.v[layer], v, width)
            self.k[layer], self.v[layer] = k[:, :, :end], v[:, :, :end]
            return k, v
        cached_k, cached_v = self._buffers(layer, k.size(0), k)
        end = self.length + k.size(2)
        cached_k[:, :, self.length:end] = k
        cached_v[:, :, self.length:end] = v
        return cached_k, cached_v

    def write_token(self, layer: int, k: torch.Tensor, v: torch.Tensor, rows: torch.Tensor | None,
                    batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """In-place buffers: store one token's (n, nh, hs) keys/values at column ``length`` of rows
        ``rows`` (n of the ``batch`` rows; all of them when None; the others keep zeros); return
        the (batch, nh, width, hs) buffers."""
        cached_k, cached_v = self._buffers(layer, batch, k)
        if rows is None:
            cached_k[:, :, self.length] = k
            cached_v[:, :, self.length] = v
        else:
            cached_k[:, :, self.length].index_copy_(0, rows, k)
            cached_v[:, :, self.length].index_copy_(0, rows, v)
        return cached_k, cached_v

    def _buffers(self, layer: int, B: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's in-place buffers, allocated by the first write as zeros (B, nh, width, hs), nh
        and hs and the dtype (bf16 under autocast) those of the keys ``like`` (..., nh, [T,] hs)."""
        cached_k, cached_v = self.k[layer], self.v[layer]
        if cached_k is None or cached_v is None:
            nh, hs = like.size(1), like.size(-1)
            assert self.width is not None
            cached_k, cached_v = like.new_zeros(B, nh, self.width, hs), like.new_zeros(B, nh, self.width, hs)
            self.k[layer], self.v[layer] = cached_k, cached_v
        return cached_k, cached_v

    def _joined(self, cached: torch.Tensor | None, new: torch.Tensor, width: int) -> torch.Tensor:
        """[cached (each row ``group_size`` times), new, zeros] along the keys, (B, nh, width, hs), in
        one copy: the repeated rows are a broadcast view that the concatenation reads."""
        B, nh, T, hs = new.shape
        rows = (B // self.group_size, self.group_size, nh)
        parts = [] if cached is None else [cached[:, None].expand(*rows, cached.size(2), hs)]
        parts.append(new.view(*rows, T, hs))
        if width > self.length + T:
            parts.append(new.new_zeros(*rows, width - self.length - T, hs))
        return new if len(parts) == 1 else torch.cat(parts, dim=3).view(B, nh, width, hs)

    def repeat_interleave(self, group_size: int) -> None:
        """Each sequence becomes ``group_size`` copies in a row (one prompt's prefill shared by its
        group); a growing cache makes the copies at its next append."""
        if self.width is None:
            self.group_size *= group_size
            return
        self.k = [self._repeat(k, group_size) for k in self.k]
        self.v = [self._repeat(v, group_size) for v in self.v]

    def advance(self, length: int) -> None:
        """Every layer has stored its keys: ``length`` tokens, one stored row per sequence."""
        self.length, self.group_size = length, 1

    def _repeat(self, x: torch.Tensor | None, group_size: int) -> torch.Tensor | None:
        if x is None:
            return None
        B, nh, width, hs = x.shape
        out = x.new_zeros(B, group_size, nh, width, hs)
        out[:, :, :, :self.length] = x[:, None, :, :self.length]  # only the written columns are copied
        return out.view(B * group_size, nh, width, hs)


class Layout:
    """Where the n computed tokens sit in the (B, T) grid: all of them in order (``index`` None),
    or the real ones at flat positions ``index`` (n,)."""

    def __init__(self, B: int, T: int, index: torch.Tensor | None):
        self.B, self.T, self.index = B, T, index

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (n, ...)."""
        x = x.reshape(self.B * self.T, *x.shape[2:])
        return x if self.index is None else x.index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(n, D) -> (B, T, D), zeros where no token was computed."""
        if self.index is not None:
            x = x.new_zeros(self.B * self.T, x.size(-1)).index_copy(0, self.index, x)
        return x.view(self.B, self.T, x.size(-1))


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, layout: Layout, attn_bias: torch.Tensor, cache: KVCache | None,
                layer: int) -> torch.Tensor:
        """(n, C) packed tokens -> (n, C); attention itself runs on the (B, T) grid, over keys
        ``attn_bias.size(-1)`` wide (a multiple of ``KV_WIDTH``; the bias is 0 where a key is seen,
        -inf elsewhere)."""
        qkv = self.c_attn(x)  # (n, 3C): q, k, v in one matmul
        if layout.T == 1 and cache is not None and cache.width is not None:
            return self.c_proj(self._decode(qkv, layout, attn_bias, cache, layer))
        qkv = layout.unpack(qkv)  # (B, T, 3C), zeros at pads
        B, T, C3 = qkv.size()
        C = C3 // 3
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        attn_bias = attn_bias.to(q.dtype)  # fused attention wants the query's dtype (bf16 under CUDA autocast)
        W = attn_bias.size(-1)  # keys are zero up to the bias's width, where it is -inf: fast kernels, same result
        if cache is not None:
            k, v = cache.append(layer, k, v, W)  # (B, nh, W, hs): cached, then these T, then zeros
        elif W > T:
            k, v = F.pad(k, (0, 0, 0, W - T)), F.pad(v, (0, 0, 0, W - T))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        return self.c_proj(layout.pack(y.transpose(1, 2).reshape(B, T, C)))  # (n, C)

    def _decode(self, qkv: torch.Tensor, layout: Layout, attn_bias: torch.Tensor, cache: KVCache,
                layer: int) -> torch.Tensor:
        """Sampling, one new token per row: (n, 3C) -> (n, C). The n real tokens' keys and values go
        straight into their rows of the cache; only the queries are laid out on the (B,) grid. With
        one query per row, plain matmuls beat the fused kernel's setup."""
        n, C = qkv.size(0), qkv.size(1) // 3
        nh, hs = self.n_head, C // self.n_head
        q, k, v = qkv.split(C, dim=1)
        keys, values = cache.write_token(layer, k.view(n, nh, hs), v.view(n, nh, hs), layout.index, layout.B)
        q = layout.unpack(q).view(layout.B, nh, 1, hs)
        att = (q @ keys.transpose(-2, -1)) * (1.0 / math.sqrt(hs)) + attn_bias.to(q.dtype)  # (B, nh, 1, W)
        y = att.softmax(dim=-1) @ values  # (B, nh, 1, hs)
        return layout.pack(y.view(layout.B, 1, C))  # (n, C)


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

    def forward(self, x: torch.Tensor, layout: Layout, attn_bias: torch.Tensor, cache: KVCache | None,
                layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), layout, attn_bias, cache, layer)  # pre-norm: the residual is never normalised
        return x + self.mlp(self.ln_2(x))


def attention_mask_4d(attention_mask: torch.Tensor, query_len: int, width: int | None = None) -> torch.Tensor:
    """(B, 1, T, W) booleans: query t (the last ``query_len`` of the S = attention_mask.size(1)
    positions) may see key s iff s <= t and key s is a real token; every query also sees itself,
    so a pad query never has an empty row (which would make softmax NaN) and real tokens never see
    pads. Keys S .. ``width`` - 1 (unwritten cache columns) are never seen; W = width or S."""
    S = attention_mask.size(1)
    keys = torch.arange(width or S, device=attention_mask.device)
    queries = keys[S - query_len:S, None]                               # (T, 1)
    causal = keys[None, :] <= queries                                   # (T, W)
    real = attention_mask.bool()
    if width is not None and width > S:
        real = torch.cat([real, real.new_zeros(real.size(0), width - S)], dim=1)
    visible = causal[None] & real[:, None, :]                           # (B, T, W)
    visible = visible | (keys[None, :] == queries)[None]
    return visible[:, None]                                             # (B, 1, T, W)


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
        attn_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, vocab) for tokens ``idx`` (B, T).

        ``attention_mask`` (B, S) marks real tokens among all S = cached + T positions (None: all
        real); ``positions`` (B, T) default to the count of real tokens before each one.
        ``attn_bias`` (B, 1, T, W), 0 where a query sees a key and -inf elsewhere, defaults to the
        one ``attention_mask_4d`` gives; a caller that keeps it up to date itself passes it (sampling).
        """
        B, T = idx.size()
        S = T + (cache.length if cache is not None else 0)
        if S > self.config.block_size:
            raise ValueError(f"sequence length {S} exceeds block_size={self.config.block_size}")
        if attention_mask is None:
            attention_mask = torch.ones(B, S, dtype=torch.long, device=idx.device)
        if positions is None:
            positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)[:, S - T:]  # (B, T)
        if attn_bias is None:
            width = cache.width if cache is not None and cache.width else key_width(S)
            mask = attention_mask_4d(attention_mask, T, width)  # (B, 1, T, W)
            attn_bias = torch.zeros(mask.shape, device=idx.device).masked_fill_(~mask, float("-inf"))  # 0: seen
        real = attention_mask[:, S - T:].bool().reshape(-1)  # (B*T,) the query tokens
        layout = Layout(B, T, None if bool(real.all()) else real.nonzero().squeeze(1))
        x = self.drop(self.wte(layout.pack(idx)) + self.wpe(layout.pack(positions)))  # (n, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, layout, attn_bias, cache, layer)
        if cache is not None:
            cache.advance(S)
        return layout.unpack(self.lm_head(self.ln_f(x)))  # (B, T, vocab), 0 at pads
