"""A character-level tokenizer: one token per character of a fixed alphabet, plus PAD and EOS."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gpu_runs.tasks import ALPHABET

PAD, EOS = 0, 1


class CharTokenizer:
    """Maps each character of ``alphabet`` to one token id (PAD = 0 and EOS = 1 come first)."""

    def __init__(self, alphabet: str = ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet={alphabet!r} must not repeat a character")
        self.alphabet = alphabet
        self.pad_id, self.eos_id = PAD, EOS
        self.to_id = {c: i + 2 for i, c in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 2

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no EOS appended)."""
        unknown = [c for c in text if c not in self.to_id]
        if unknown:
            raise ValueError(f"text={text!r} has character {unknown[0]!r} outside alphabet={self.alphabet!r}")
        return [self.to_id[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` up to the first EOS; a PAD shows as '_' (outside the alphabet, so a
        completion holding one never verifies)."""
        chars = []
        for i in ids:
            if i == EOS:
                break
            chars.append("_" if i == PAD else self.alphabet[i - 2])
        return "".join(chars)

    def pad_left(self, texts: Sequence[str], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, mask), both (B, T) with T the longest text: texts right-aligned, PAD on the left."""
        encoded = [self.encode(t) for t in texts]
        T = max(len(e) for e in encoded)
        ids = torch.full((len(texts), T), PAD, dtype=torch.long)
        mask = torch.zeros((len(texts), T), dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, T - len(e):] = torch.tensor(e, dtype=torch.long)
            mask[row, T - len(e):] = 1
        return ids.to(device), mask.to(device)
