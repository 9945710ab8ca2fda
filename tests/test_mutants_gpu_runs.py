"""Tests written against the mutants of gpu_runs/losses.py and gpu_runs/sampling.py that the suite let pass
(issue 18, item 4; the list is results/mutation/survivors.md, the tool tools/mutation.py). Hand-made tensors
with known exact outputs."""

from __future__ import annotations

import pytest
import torch

from gpu_runs.config import GPTConfig
from gpu_runs.losses import clip_region, dpo_sigmoid_loss, policy_loss
from gpu_runs.model import GPT
from gpu_runs.sampling import (
    Samples,
    completion_logprobs,
    concat_samples,
    generate,
    pad_columns,
    pick_tokens,
    select_rows,
)
from gpu_runs.tokenizer import PAD, CharTokenizer

torch.set_num_threads(1)


def test_clip_region_by_hand() -> None:
    """Guards against the two sides of the clip region joined by 'and', a bound that counts as clipped
    (<= 1 - eps_low, >= 1 + eps_high) and an upper bound moved to 2 + eps_high."""
    ratio = torch.tensor([[0.5, 0.75, 1.0, 1.5, 2.0]], dtype=torch.float64).expand(2, 5)
    region = clip_region(ratio, torch.tensor([-1.0, 1.0], dtype=torch.float64), eps_low=0.25, eps_high=0.5)
    assert region.tolist() == [[True, False, False, False, False], [False, False, False, False, True]]


def _batch(N: int = 2, T: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(N, T, generator=g, dtype=torch.float64)
    return {"logp": logp, "old_logp": logp - 0.1, "ref_logp": None, "advantages": torch.tensor([1.0, -0.5]),
            "mask": torch.ones(N, T, dtype=torch.float64)}


@pytest.mark.parametrize(("change", "message"), [
    ({"loss_type": "dr_grpo"}, r"^max_completion_length=None is not allowed for loss_type='dr_grpo'; give an "
     r"integer >= 1$"),
    ({"advantages": torch.zeros(3)}, r"^advantages has shape \(3,\); it must be \(2,\): one advantage per completion$"),
])
def test_policy_loss_messages_are_exact(change: dict[str, object], message: str) -> None:
    """Guards against a mangled error message (the suite's matches were not anchored at the ends)."""
    args = {"loss_type": "grpo", **_batch(), **change}
    with pytest.raises(ValueError, match=message):
        policy_loss(args.pop("loss_type"), args.pop("logp"), args.pop("old_logp"), args.pop("ref_logp"),
                    args.pop("advantages"), args.pop("mask"))


def test_dapo_accepts_zero_tokens_in_the_step() -> None:
    """Guards against num_items_in_batch = 0 rejected (> 0 or >= 1 in place of >= 0): it is allowed and, like
    any count below 1, the normaliser is clamped to 1, so the loss is the plain sum of the masked terms."""
    b = _batch()
    zero = policy_loss("dapo", b["logp"], b["old_logp"], None, b["advantages"], b["mask"], num_items_in_batch=0)
    one = policy_loss("dapo", b["logp"], b["old_logp"], None, b["advantages"], b["mask"], num_items_in_batch=1)
    assert zero.loss.item() == one.loss.item()


@pytest.mark.parametrize("name", ["policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps"])
def test_dpo_shape_errors_name_the_argument(name: str) -> None:
    """Guards against a shape error that names another (or a mangled) argument."""
    args = {k: torch.zeros(3) for k in ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps",
                                        "ref_rejected_logps")}
    args[name] = torch.zeros(4)
    with pytest.raises(ValueError, match=rf"^{name} has shape \(4,\); it must match policy_chosen_logps \(3,\)$"):
        dpo_sigmoid_loss(**args, beta=0.1)


def _tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=20, n_layer=2, n_head=2, n_embd=16)).eval()


@pytest.mark.parametrize("max_new_tokens", [1, 2])
def test_teacher_forced_logprobs_of_one_and_two_token_completions(max_new_tokens: int) -> None:
    """Guards against the second forward (tokens 1 .. Tc-1 predict 2 .. Tc) skipped for Tc = 2 or run on
    zero tokens for Tc = 1, and against a default temperature other than 1: the recomputed log-probs equal
    those of sampling at temperature 1."""
    model = _tiny_model()
    ids, mask = CharTokenizer().pad_left(["12+3=", "1+2="])
    s = generate(model, ids, mask, max_new_tokens=max_new_tokens, group_size=2,
                 generator=torch.Generator().manual_seed(0))
    assert s.completion_ids.size(1) == max_new_tokens
    with torch.no_grad():
        logp = completion_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask)
    torch.testing.assert_close(logp, s.token_logp, rtol=0, atol=1e-5)


def _samples(prompts: list[list[int]], completions: list[list[int]], logp: list[list[float]]) -> Samples:
    prompt_ids = torch.tensor(prompts)
    completion_ids = torch.tensor(completions)
    completion_mask = (completion_ids != PAD).float()
    token_logp = torch.tensor(logp)
    return Samples(prompt_ids, (prompt_ids != PAD).long(), completion_ids, completion_mask, token_logp,
                   -token_logp)


def test_pad_columns_by_hand() -> None:
    """Guards against padding on the wrong side, with another value or to another width."""
    x = torch.tensor([[5, 6], [7, 8]])
    assert pad_columns(x, 4, 9, left=True).tolist() == [[9, 9, 5, 6], [9, 9, 7, 8]]
    assert pad_columns(x, 3, 0, left=False).tolist() == [[5, 6, 0], [7, 8, 0]]
    assert pad_columns(x, 2, 9, left=True).tolist() == x.tolist()


def test_concat_samples_repads_prompts_left_and_completions_right() -> None:
    """Guards against the parts joined without re-padding, on the wrong side, with the wrong fill (PAD for
    ids, 0 for masks, log-probs and entropies) or to another width."""
    a = _samples([[3, 4]], [[5]], [[-0.5]])
    b = _samples([[6, 7, 8]], [[9, 10]], [[-0.25, -0.75]])
    s = concat_samples([a, b])
    assert s.prompt_ids.tolist() == [[PAD, 3, 4], [6, 7, 8]]
    assert s.prompt_mask.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert s.completion_ids.tolist() == [[5, PAD], [9, 10]]
    assert s.completion_mask.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert s.token_logp.tolist() == [[-0.5, 0.0], [-0.25, -0.75]]
    assert s.entropy.tolist() == [[0.5, 0.0], [0.25, 0.75]]


def test_select_rows_trims_only_columns_no_selected_row_uses() -> None:
    """Guards against the trim cutting a used column (off by one at either end), keeping a column no
    selected row uses, or trimming without ``trim``."""
    s = _samples([[PAD, PAD, 5, 6], [PAD, 7, 8, 9], [1, 2, 3, 4]],
                 [[10, 11, PAD], [12, PAD, PAD], [13, 14, 15]],
                 [[-0.125, -0.25, 0.0], [-0.375, 0.0, 0.0], [-0.5, -0.625, -0.75]])
    rows = torch.tensor([0, 1])
    kept = select_rows(s, rows)
    assert kept.prompt_ids.tolist() == [[PAD, PAD, 5, 6], [PAD, 7, 8, 9]]
    assert kept.completion_ids.tolist() == [[10, 11, PAD], [12, PAD, PAD]]
    trimmed = select_rows(s, rows, trim=True)
    assert trimmed.prompt_ids.tolist() == [[PAD, 5, 6], [7, 8, 9]]
    assert trimmed.prompt_mask.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert trimmed.completion_ids.tolist() == [[10, 11], [12, PAD]]
    assert trimmed.completion_mask.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert trimmed.token_logp.tolist() == [[-0.125, -0.25], [-0.375, 0.0]]
    assert trimmed.entropy.tolist() == [[0.125, 0.25], [0.375, 0.0]]
    assert select_rows(s, torch.tensor([2]), trim=True).prompt_ids.tolist() == [[1, 2, 3, 4]]


def test_pick_tokens_entropy_and_log_prob_by_hand() -> None:
    """Guards against the entropy's sign or product mangled, the softmax or argmax along the wrong axis, and
    temperature applied (or skipped) wrongly: logits (0, log 3) give probabilities (1/4, 3/4), so the greedy
    token is 1 with log-prob log 3/4 and the entropy is -(1/4 log 1/4 + 3/4 log 3/4); at temperature 2 the
    logits halve."""
    logits = torch.tensor([[0.0, float(torch.log(torch.tensor(3.0)))]] * 3)
    token, logp, entropy = pick_tokens(logits, temperature=1.0, top_p=1.0, greedy=True, generator=None)
    p = torch.tensor([0.25, 0.75])
    assert token.tolist() == [1, 1, 1]
    torch.testing.assert_close(logp, torch.log(p[1]).expand(3), rtol=0, atol=1e-6)
    torch.testing.assert_close(entropy, -(p * p.log()).sum().expand(3), rtol=0, atol=1e-6)
    _, logp2, _ = pick_tokens(logits, temperature=2.0, top_p=1.0, greedy=False,
                              generator=torch.Generator().manual_seed(0))
    half = torch.softmax(logits[0] / 2, dim=-1)
    assert all(torch.isclose(v, half.log(), atol=1e-6).any() for v in logp2)
