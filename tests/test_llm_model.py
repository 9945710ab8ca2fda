"""gpu_runs.model, gpu_runs.tokenizer, gpu_runs.device: shapes, padding, presets' sizes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_runs.config import GPTConfig, preset
from gpu_runs.device import autocast, pick_device, set_threads
from gpu_runs.model import GPT, KVCache, attention_mask_4d
from gpu_runs.tasks import ALPHABET
from gpu_runs.tokenizer import EOS, PAD, CharTokenizer

TINY = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=16)


def tiny_model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(TINY).eval()


def test_forward_shapes():
    model = tiny_model()
    idx = torch.randint(2, TINY.vocab_size, (3, 7))
    assert model(idx).shape == (3, 7, TINY.vocab_size)


def test_kv_cache_shapes_and_length():
    model = tiny_model()
    buffers = KVCache(TINY.n_layer, max_len=10)  # width rounded up to a multiple of KV_WIDTH = 16
    model(torch.randint(2, TINY.vocab_size, (3, 4)), cache=buffers)
    assert buffers.length == 4 and buffers.k[0].shape == (3, TINY.n_head, 16, TINY.n_embd // TINY.n_head)
    assert KVCache(1, max_len=16).width == 16 and KVCache(1, max_len=17).width == 32
    buffers.repeat_interleave(2)
    assert buffers.k[0].shape[0] == 6 and torch.equal(buffers.k[0][2], buffers.k[0][3])
    assert not bool(buffers.v[1][:, :, 4:].any())  # unwritten columns stay zero
    cache = KVCache(TINY.n_layer)
    idx = torch.randint(2, TINY.vocab_size, (3, 4))
    model(idx, cache=cache)
    assert cache.length == 4
    assert [k.shape for k in cache.k] == [(3, TINY.n_head, 4, TINY.n_embd // TINY.n_head)] * TINY.n_layer
    model(idx[:, :1], torch.ones(3, 5, dtype=torch.long), cache)
    assert cache.length == 5 and cache.v[-1].shape[2] == 5
    cache.repeat_interleave(2)  # a growing cache copies at its next append
    model(torch.randint(2, TINY.vocab_size, (6, 2)), torch.ones(6, 7, dtype=torch.long), cache)
    assert cache.length == 7 and cache.group_size == 1 and cache.k[0].shape[:3] == (6, TINY.n_head, 7)
    assert torch.equal(cache.k[0][0, :, :5], cache.k[0][1, :, :5])
    assert torch.equal(cache.v[1][4, :, :5], cache.v[1][5, :, :5])


@pytest.mark.parametrize("max_len", [None, 6, 9])
def test_cached_forward_equals_full_forward(max_len):
    """Both cache kinds (in-place buffers, growing by concatenation) give the full forward's logits."""
    model = tiny_model()
    idx = torch.randint(2, TINY.vocab_size, (2, 6))
    full = model(idx)
    cache = KVCache(TINY.n_layer, max_len)
    first = model(idx[:, :4], cache=cache)
    rest = [model(idx[:, t:t + 1], torch.ones(2, t + 1, dtype=torch.long), cache) for t in (4, 5)]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, rtol=1e-5, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(pad=st.integers(0, 5), length=st.integers(1, 8))
def test_left_padding_leaves_logits_unchanged(pad, length):
    """Positions count real tokens and pads are never attended: a padded prompt's logits equal the
    unpadded ones."""
    model = tiny_model()
    idx = torch.randint(2, TINY.vocab_size, (1, length), generator=torch.Generator().manual_seed(length))
    padded = torch.cat([torch.full((1, pad), PAD), idx], dim=1)
    mask = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.ones(1, length, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, mask)[:, pad:], model(idx), rtol=1e-5, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=2, max_size=4))
def test_right_padded_rows_equal_rows_alone_and_pads_cost_nothing(lengths):
    """Rows of different lengths, right-padded: each real token's logits equal those of its row run
    alone, and a pad position's logits are exactly 0 (it is never computed)."""
    model = tiny_model()
    gen = torch.Generator().manual_seed(sum(lengths))
    rows = [torch.randint(2, TINY.vocab_size, (n,), generator=gen) for n in lengths]
    T = max(lengths)
    idx = torch.stack([torch.cat([r, torch.full((T - r.numel(),), PAD)]) for r in rows])
    mask = torch.stack([torch.arange(T) < r.numel() for r in rows]).long()
    logits = model(idx, mask)
    for i, r in enumerate(rows):
        torch.testing.assert_close(logits[i, :r.numel()], model(r[None])[0], rtol=1e-5, atol=1e-5)
        assert not bool(logits[i, r.numel():].any())


def test_attention_mask_never_has_an_empty_row():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    m = attention_mask_4d(mask, 4)  # (B, 1, T, S)
    assert m.shape == (2, 1, 4, 4)
    assert bool(m.any(dim=-1).all())
    assert not bool(m[0, 0, 3, 0]) and not bool(m[0, 0, 3, 1])  # real tokens never see pads
    assert not bool(m[1, 0, 0, 1])  # causal
    wide = attention_mask_4d(mask[:, :3], 1, width=8)  # a query at position 2 of an 8-wide buffer
    assert wide.shape == (2, 1, 1, 8) and not bool(wide[..., 3:].any())  # unwritten columns are never seen
    assert torch.equal(wide[..., :3], attention_mask_4d(mask[:, :3], 1))


def test_sequence_longer_than_block_size_is_rejected():
    with pytest.raises(ValueError, match="block_size"):
        tiny_model()(torch.zeros(1, TINY.block_size + 1, dtype=torch.long))


@pytest.mark.parametrize(("field", "value"), [("n_layer", 0), ("n_embd", 15), ("dropout", 1.0), ("vocab_size", 0)])
def test_gpt_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field if field != "n_embd" else "multiple"):
        GPTConfig(**{field: value})


def test_presets_are_named_by_their_model_size():
    """tiny about 0.1M parameters, small about 1M, gpu 10-25M (built on the meta device: no memory)."""
    with torch.device("meta"):
        tiny, small, gpu = (GPT(preset(name).warm_start.model).num_params() for name in ("tiny", "small", "gpu"))
    assert 0.07e6 <= tiny <= 0.13e6
    assert 0.7e6 <= small <= 1.3e6
    assert 10e6 <= gpu <= 25e6


@settings(max_examples=40)
@given(text=st.text(alphabet=ALPHABET, max_size=20))
def test_tokenizer_round_trip(text):
    tok = CharTokenizer()
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode([*tok.encode(text), EOS, *tok.encode("12")]) == text


def test_tokenizer_pad_left_and_errors():
    tok = CharTokenizer()
    ids, mask = tok.pad_left(["12+3=", "1>"])
    assert ids.shape == mask.shape == (2, 5)
    assert mask[1].tolist() == [0, 0, 0, 1, 1]
    assert ids[1, :3].tolist() == [PAD] * 3
    assert tok.decode([tok.encode("1")[0], PAD]) == "1_"  # a PAD inside a completion never verifies
    with pytest.raises(ValueError, match="outside alphabet"):
        tok.encode("1a")
    with pytest.raises(ValueError, match="repeat"):
        CharTokenizer("11")


def test_device_helpers():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device='tpu'"):
        pick_device("tpu")
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_threads(0) >= 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads=-1"):
        set_threads(-1)
    with autocast(torch.device("cpu")):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32  # fp32 on CPU


@pytest.mark.parametrize(("load", "runnable", "busy"), [
    (0.4, 3, False), (0.99, 3, False), (1.0, 2, True), (3.0, 5, True), (3.0, None, True),
    (1.5, 1, False),  # the load of work that has just ended: nothing else runs now
])
def test_cores_count_as_busy_from_half_their_number(monkeypatch, load, runnable, busy):
    """OpenMP waits passively (OMP_WAIT_POLICY) only when the 1-minute load reaches half the cores
    and, where the moment's count of runnable tasks is known, other tasks hold them now."""
    from gpu_runs import cores

    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(cores.os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(cores, "runnable_tasks", lambda: runnable)
    assert cores.cores_busy() is busy


def test_runnable_tasks_counts_the_reader_where_proc_exists():
    from gpu_runs import cores

    now = cores.runnable_tasks()
    assert now is None or now >= 1


@pytest.mark.parametrize(("busy", "user", "expected"), [
    (True, None, "PASSIVE"), (False, None, None), (True, "ACTIVE", "ACTIVE"), (False, "PASSIVE", "PASSIVE"),
])
def test_omp_wait_policy_is_passive_only_on_busy_cores_and_never_overrides_the_user(monkeypatch, busy, user,
                                                                                    expected):
    from gpu_runs import cores

    monkeypatch.setattr(cores, "cores_busy", lambda: busy)
    if user is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", user)
    cores.configure_omp_wait_policy()
    assert cores.os.environ.get("OMP_WAIT_POLICY") == expected


BUSY_MACHINE = """
import builtins, io, os

real_open = builtins.open


def busy_open(path, *args, **kwargs):  # 50 tasks runnable now
    return io.StringIO("9.0 9.0 9.0 50/100 1\\n") if path == "/proc/loadavg" else real_open(path, *args, **kwargs)


builtins.open = busy_open
os.getloadavg = lambda: (9.0, 9.0, 9.0)
before = dict(os.environ)
import gpu_runs, gpu_runs.trainer
from gpu_runs.cores import cores_busy
assert cores_busy()  # so an import that configured OpenMP would have set OMP_WAIT_POLICY here
print(sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)))
"""


def test_importing_gpu_runs_sets_no_environment_variable():
    """The wait policy is the CLI entry's decision (gpu_runs.cores.configure_omp_wait_policy), not a side
    effect of an import: on a machine that looks busy, importing the package and its trainer changes no
    variable, OMP_WAIT_POLICY included."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", BUSY_MACHINE], capture_output=True, text=True, env=env,
                            cwd=root, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
