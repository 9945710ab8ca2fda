"""gpu_runs.sampling: the KV cache changes nothing, log-probs are the teacher-forced ones, EOS
stops each sequence, left padding is invisible."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_runs.config import GPTConfig
from gpu_runs.model import GPT
from gpu_runs.sampling import completion_logprobs, generate, pick_tokens
from gpu_runs.tokenizer import EOS, PAD, CharTokenizer

TINY = GPTConfig(block_size=20, n_layer=2, n_head=2, n_embd=16)
PROMPTS = ["12+345=", "1+2=", "5123>", "99+1="]


def tiny_model(seed: int = 0, eos_bias: float = 0.0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(TINY).eval()
    with torch.no_grad():  # a random model with a larger EOS logit stops at different lengths
        model.lm_head.weight[EOS] += eos_bias * model.ln_f.weight.sign() * 0.05
    return model


def sample(model: GPT, *, seed: int = 0, use_cache: bool = True, **kwargs):
    ids, mask = CharTokenizer().pad_left(PROMPTS)
    options = {"max_new_tokens": 8, "group_size": 3, **kwargs}
    return generate(model, ids, mask, generator=torch.Generator().manual_seed(seed), use_cache=use_cache, **options)


@pytest.mark.parametrize("greedy", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_kv_cache_sampling_equals_recomputation(greedy, temperature):
    model = tiny_model(eos_bias=3.0)
    a = sample(model, greedy=greedy, temperature=temperature)
    b = sample(model, greedy=greedy, temperature=temperature, use_cache=False)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.completion_mask, b.completion_mask)
    torch.testing.assert_close(a.token_logp, b.token_logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.entropy, b.entropy, rtol=0, atol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 1.5])
def test_logprobs_equal_teacher_forced_recomputation(temperature):
    model = tiny_model(eos_bias=3.0)
    s = sample(model, temperature=temperature)
    recomputed = completion_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask,
                                     temperature=temperature)
    torch.testing.assert_close(recomputed, s.token_logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(s.seq_logp, recomputed.sum(1), rtol=0, atol=1e-5)


def test_same_seed_same_samples_other_seed_other_samples():
    model = tiny_model()
    assert torch.equal(sample(model, seed=3).completion_ids, sample(model, seed=3).completion_ids)
    assert not torch.equal(sample(model, seed=3).completion_ids, sample(model, seed=4).completion_ids)


def test_each_sequence_stops_at_its_first_eos():
    s = sample(tiny_model(eos_bias=3.0))
    ids, mask = s.completion_ids, s.completion_mask
    lengths = mask.sum(1).long()
    assert len(set(lengths.tolist())) > 1  # the test needs sequences of different lengths
    for row, n in zip(ids.tolist(), lengths.tolist(), strict=True):
        eos = [t for t, token in enumerate(row) if token == EOS]
        if eos:  # stopped: EOS is the last counted token, PAD after it
            assert eos[0] == n - 1 and all(token == PAD for token in row[n:])
        else:  # ran to max_new_tokens
            assert n == ids.size(1)
    assert torch.all(s.token_logp[mask == 0] == 0) and torch.all(s.token_logp[mask == 1] < 0)
    # masks are 1 on a prefix, then 0
    assert torch.all(mask[:, 1:] <= mask[:, :-1])


def test_groups_are_consecutive_rows_of_one_prompt():
    s = sample(tiny_model(), group_size=4)
    assert s.prompt_ids.shape[0] == 4 * len(PROMPTS)
    for i in range(len(PROMPTS)):
        assert torch.equal(s.prompt_ids[4 * i], s.prompt_ids[4 * i + 3])


def test_left_padded_batch_equals_prompts_alone():
    """Greedy completions of a padded batch equal those of each prompt sampled alone."""
    model = tiny_model(eos_bias=3.0)
    tok = CharTokenizer()
    batch = sample(model, greedy=True, group_size=1)
    for i, prompt in enumerate(PROMPTS):
        ids, mask = tok.pad_left([prompt])
        alone = generate(model, ids, mask, max_new_tokens=8, greedy=True)
        n = int(alone.completion_mask.sum())
        assert batch.completion_ids[i, :n].tolist() == alone.completion_ids[0, :n].tolist()
        torch.testing.assert_close(batch.token_logp[i, :n], alone.token_logp[0, :n], rtol=0, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), top_p=st.floats(0.05, 1.0))
def test_top_p_samples_only_from_the_nucleus(seed, top_p):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(64, 10, generator=g)
    token, logp, _ = pick_tokens(logits, temperature=1.0, top_p=top_p, greedy=False, generator=g)
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    rank = (order == token[:, None]).float().argmax(-1)
    mass_before = torch.gather(sorted_probs.cumsum(-1) - sorted_probs, 1, rank[:, None]).squeeze(1)
    assert torch.all(mass_before < top_p + 1e-6)  # the token was inside the nucleus
    torch.testing.assert_close(logp, probs.log().gather(1, token[:, None]).squeeze(1))


def test_tiny_top_p_is_greedy():
    model = tiny_model()
    torch.testing.assert_close(sample(model, top_p=1e-6).completion_ids.float(),
                               sample(model, greedy=True).completion_ids.float())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_new_tokens": 0}, "max_new_tokens=0"), ({"temperature": 0.0}, "temperature=0.0"),
    ({"top_p": 0.0}, "top_p=0.0"), ({"top_p": 1.5}, "top_p=1.5"), ({"group_size": 0}, "group_size=0"),
])
def test_sampling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(tiny_model(), **kwargs)


def test_shared_prompt_forward_gives_the_same_logprobs_and_gradients():
    """completion_logprobs(group_size=G) runs each prompt once for its group: same numbers, same
    gradients as G separate forwards."""
    model = tiny_model(eos_bias=3.0).train()
    s = sample(model, group_size=3)
    results = []
    for G in (1, 3):
        model.zero_grad()
        logp = completion_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask,
                                   group_size=G)
        (logp * torch.linspace(-1, 1, logp.numel()).view_as(logp)).sum().backward()
        results.append((logp.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-5)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="group_size=5"):
        completion_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask, group_size=5)
