"""What the peers' own GRPO advantage code computes (checks ``check_tt3`` and ``check_by4``,
method ``exact``: TT-3, BY-4).

A_i = (r_i - mean(r)) / (std(r) + eps), sample std, computed in torch float32 as each peer does:

| peer     | eps  | route                                                                            |
|----------|------|----------------------------------------------------------------------------------|
| TRL 1.16 | 1e-4 | TRL's own trainer through its public API: a ``trl.GRPOTrainer`` (``GRPOConfig``, a |
|          |      | reward function, ``rollout_func`` handing it fixed completions) runs one step; the |
|          |      | advantages its ``compute_loss`` receives are read there (:func:`trl_group_advantages`) |
| verl     | 1e-6 | re-implementation of ``compute_grpo_outcome_advantage`` (per-group loop), as documented |
| OpenRLHF | 1e-9 | re-implementation of ``group_norm``: ``(r - r.mean(-1)) / (r.std(-1) + 1e-9)``       |

TRL is never transcribed here: without trl, or when its layout lacks that route (``rollout_func``
is marked experimental in 1.16), :func:`trl_group_advantages` raises an error that names the
installed version and what is missing, and the check reports ``error``.

TT-3: with G = 2 and binary rewards the peers give A_1 = c (r_1 - r_2) with c = 1/(sqrt(2) + 2 eps),
about 1/sqrt(2), where the papers' analysis has c = 1. BY-4: the float32 mean of G equal rewards
that are not dyadic (0.35) can miss them by a few ulps (about 1e-8), depending on G (never at
G = 2, where r + r and the halving are exact); the peers divide that residue by its own std plus
eps and emit a spurious advantage, where ours (``theory.advantages``) are exact zeros.
Everything runs on the CPU: a GPU's reductions may round differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import inspect
import random
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evidence.io import atomic_path, atomic_write_json
from evidence.record import Evidence, RunContext
from theory.advantages import group_advantages
from theory.estimators import compute_advantages
from theory.expectations import two_grpo_scale

PEER_EPS = {"trl": 1e-4, "verl": 1e-6, "openrlhf": 1e-9}
"""eps of each peer's std normaliser (the table above)."""
NON_DYADIC_REWARDS = (0.35, 0.05, 0.1, 0.2, 0.3, 1 / 3, 0.45, 0.7, 0.9)
DYADIC_REWARDS = (0.0, 0.25, 0.5, 0.75, 1.0)
GROUP_SIZES = tuple(range(2, 17))
PAIR_COUNT = {"smoke": 256, "default": 4096, "full": 65536}
"""Real-reward pairs of TT-3 per budget."""
TRL_ROUTE = "GRPOTrainer.train() with rollout_func and a reward function; advantages read in compute_loss"


def trl_version() -> str:
    """The installed trl's version; RuntimeError when trl is not installed."""
    try:
        return importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError("trl is not installed: the TRL cross-check needs trl 1.16 "
                           "(pip install -e .[peers])") from exc


def trl_route() -> str:
    """The route :func:`trl_group_advantages` takes, with trl's version."""
    return f"trl {trl_version()} {TRL_ROUTE}"


@contextlib.contextmanager
def _isolated_global_state() -> Iterator[None]:
    """Restore what ``Trainer.train`` changes process-wide: the torch, numpy and random RNGs
    (it seeds them) and torch's thread count, so that a check gives the same numbers alone or
    after this one."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global state is what Trainer seeds)
    threads, py_state = torch.get_num_threads(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


def _row_tokenizer() -> Any:
    """A tokenizer over the digits and a comma (PAD, EOS first): completion "i,j" names row j of group i."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, **{c: k + 2 for k, c in enumerate("0123456789,")}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")


class _Captured(Exception):
    """Raised by the trainer's ``compute_loss`` once it holds the advantages: the step stops there."""


def trl_group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """TRL's GRPO advantages of rewards (Q, G), scale_rewards="group", one reward function of
    weight 1, as float32 (TRL scores rewards in float32), computed by TRL's own trainer.

    A ``GRPOTrainer`` subclass whose ``compute_loss`` (the Trainer's public hook) records the
    ``advantages`` it receives runs one step on Q prompts "i" with ``num_generations`` = G; the
    ``rollout_func`` hands it completion "i,j" for the j-th copy of prompt i and the reward
    function returns ``rewards[i, j]`` for it, so TRL groups, scores and normalises exactly these
    rewards. The model (a 1-layer Llama of width 8, built from a config, nothing downloaded) only
    computes log-probs the advantages do not depend on. RuntimeError, naming trl's version, when
    trl is missing or lacks this route."""
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} must be (Q, G) with G >= 2")
    version = trl_version()
    try:
        from datasets import Dataset
        from transformers import LlamaConfig, LlamaForCausalLM
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        raise RuntimeError(f"trl {version} is installed but its GRPOTrainer cannot be imported ({exc}); the TRL "
                           "cross-check needs trl 1.16's trl.GRPOTrainer and trl.GRPOConfig") from exc
    if "rollout_func" not in inspect.signature(GRPOTrainer.__init__).parameters:
        raise RuntimeError(f"trl {version}: GRPOTrainer takes no rollout_func argument (trl 1.16's way to hand "
                           "the trainer fixed completions); the TRL cross-check cannot drive its advantage code")
    Q, G = rewards.shape
    values = rewards.float().tolist()
    tokenizer = _row_tokenizer()

    def encode(text: str) -> list[int]:
        return tokenizer.convert_tokens_to_ids(list(text))

    def row_of(text: str) -> tuple[int, int]:
        i, j = text.split(",")
        return int(i), int(j)

    def rollout(prompts: list[str], trainer: Any) -> dict[str, list[list[Any]]]:
        seen: dict[str, int] = {}
        completions = []
        for prompt in prompts:  # the j-th copy of prompt i is completion "i,j"
            seen[prompt] = seen.get(prompt, -1) + 1
            completions.append([*encode(f"{prompt},{seen[prompt]}"), tokenizer.eos_token_id])
        return {"prompt_ids": [encode(p) for p in prompts], "completion_ids": completions,
                "logprobs": [[0.0] * len(c) for c in completions]}

    def reward(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float]:
        return [values[i][j] for i, j in map(row_of, completions)]

    advantages: dict[tuple[int, int], float] = {}

    class RecordingTrainer(GRPOTrainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> torch.Tensor:
            texts = self.processing_class.batch_decode(inputs["completion_ids"], skip_special_tokens=True)
            advantages.update(zip(map(row_of, texts), inputs["advantages"].tolist(), strict=True))
            raise _Captured

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=1, max_position_embeddings=64, pad_token_id=0, bos_token_id=1,
                         eos_token_id=1)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), _isolated_global_state():
        warnings.simplefilter("ignore")  # rollout_func is marked experimental; transformers' notices
        args = GRPOConfig(output_dir=tmp, use_cpu=True, bf16=False, per_device_train_batch_size=Q * G,
                          num_generations=G, max_completion_length=16, max_steps=1, beta=0.0, report_to="none",
                          save_strategy="no", logging_steps=10**9, disable_tqdm=True, dataloader_num_workers=0)
        trainer = RecordingTrainer(model=LlamaForCausalLM(config), reward_funcs=reward, args=args,
                                   train_dataset=Dataset.from_list([{"prompt": str(i)} for i in range(Q)]),
                                   processing_class=tokenizer, rollout_func=rollout)
        with contextlib.suppress(_Captured):
            trainer.train()
    if len(advantages) != Q * G:
        raise RuntimeError(f"trl {version}: GRPOTrainer.compute_loss received {len(advantages)} of the {Q * G} "
                           "rows' advantages; the TRL cross-check cannot read TRL's advantages")
    return torch.tensor([[advantages[i, j] for j in range(G)] for i in range(Q)], dtype=torch.float32)


def verl_group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """verl ``compute_grpo_outcome_advantage``: per group, (s - torch.mean) / (torch.std + 1e-6),
    one scalar at a time as verl's loop does; rewards (Q, G)."""
    scores = rewards.reshape(-1).clone()
    G = rewards.shape[1]
    for start in range(0, scores.numel(), G):
        group = torch.stack([scores[i] for i in range(start, start + G)])
        mean, std = torch.mean(group), torch.std(group)
        for i in range(start, start + G):
            scores[i] = (scores[i] - mean) / (std + PEER_EPS["verl"])
    return scores.reshape(rewards.shape)


def openrlhf_group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """OpenRLHF ``group_norm``: (r - r.mean(-1)) / (r.std(-1) + 1e-9); rewards (Q, G)."""
    return (rewards - rewards.mean(-1, keepdim=True)) / (rewards.std(-1, keepdim=True) + PEER_EPS["openrlhf"])


PEERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "trl": trl_group_advantages,
    "verl": verl_group_advantages,
    "openrlhf": openrlhf_group_advantages,
}


def tt3_record(rng: np.random.Generator, n_pairs: int) -> tuple[Evidence, dict[str, Any]]:
    """TT-3 from the peers' code: G = 2 binary groups give A_1 = c (r_1 - r_2) with c = two_grpo_scale
    ("sample", eps); real-reward pairs give A_1 = (r_1 - r_2)/2 / (|r_1 - r_2|/sqrt 2 + eps)."""
    binary = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float32)
    signs = np.array([[1.0, -1.0], [-1.0, 1.0]])
    c_paper = float(group_advantages(binary.numpy(), "grpo", "population", 0.0)[0, 0])
    c_ours = float(group_advantages(binary.numpy(), "grpo", "sample", 0.0)[0, 0])
    r = rng.uniform(0.0, 1.0, size=(n_pairs, 2)).astype(np.float32)
    r = r[r[:, 0] != r[:, 1]]
    diff = r[:, 0].astype(np.float64) - r[:, 1]
    # float32 rounds r_1 - mean(r) by up to a few ulps of r, i.e. relatively by ulp(r) / |r_1 - r_2|
    float32_bound = 1e-6 + 8 * np.finfo(np.float32).eps / np.abs(diff)
    ours_real = group_advantages(r, "grpo", "sample", 0.0)[:, 0]
    c_peers, binary_gap, real_gap, sign_gap = {}, {}, {}, {}
    for name, peer in PEERS.items():
        eps = PEER_EPS[name]
        a = peer(binary).double().numpy()
        c_peers[name] = float(a[0, 0])
        binary_gap[name] = float(np.abs(a - two_grpo_scale("sample", eps) * signs).max())
        a_real = peer(torch.from_numpy(r)).double().numpy()[:, 0]
        gap = np.abs(a_real - diff / 2 / (np.abs(diff) / np.sqrt(2) + eps))
        real_gap[name] = float((gap / float32_bound).max())
        sign_gap[name] = float(np.abs(a_real - c_ours * np.sign(diff)).max())
    paper = group_advantages(binary.numpy(), "grpo", "population", 0.0)
    rloo = group_advantages(binary.numpy(), "rloo")
    dr = group_advantages(binary.numpy(), "dr_grpo")
    checks = {
        "papers' c = 1 (population std, eps = 0) from theory.advantages": abs(c_paper - 1.0) < 1e-12,
        "our c for sample std = 1/sqrt(2) = two_grpo_scale('sample', 0)":
            abs(c_ours - 1 / np.sqrt(2)) < 1e-12 and abs(c_ours - two_grpo_scale("sample", 0.0)) < 1e-12,
        "2-GRPO (population) == RLOO(2) == 2 x Dr.GRPO(2) on binary pairs":
            bool(np.allclose(paper, rloo, atol=1e-12) and np.allclose(paper, 2 * dr, atol=1e-12)),
        "each peer's binary G = 2 advantages equal two_grpo_scale('sample', its eps) (r1 - r2) (1e-6)":
            all(v < 1e-6 for v in binary_gap.values()),
        "each peer's binary c is 1/sqrt(2) up to its eps (1e-3), not the papers' 1":
            all(abs(c - 1 / np.sqrt(2)) < 1e-3 and abs(c - 1.0) > 0.2 for c in c_peers.values()),
        "each peer on real pairs: A_1 = (r1 - r2)/2 / (|r1 - r2|/sqrt 2 + eps) within float32 rounding":
            all(v <= 1.0 for v in real_gap.values()),
        "ours on real pairs: A_1 = c sign(r1 - r2) exactly (magnitudes discarded)":
            float(np.abs(ours_real - c_ours * np.sign(diff)).max()) < 1e-12,
    }
    numbers = {"c_paper": c_paper, "c_ours_sample_std": c_ours,
               "c_ours_sample_std_eps_1e-6": two_grpo_scale("sample", 1e-6),
               **{f"c_{name}": c for name, c in c_peers.items()},
               **{f"max_binary_gap_{name}": v for name, v in binary_gap.items()},
               **{f"max_real_gap_over_float32_bound_{name}": v for name, v in real_gap.items()},
               **{f"max_gap_to_c_sign_{name}": v for name, v in sign_gap.items()},
               "real_pairs": len(diff), "min_abs_reward_gap": float(np.abs(diff).min()), "trl_route": trl_route()}
    evidence = Evidence.from_checks(
        "TT-3", "exact", "2-GRPO advantages in TRL, verl and OpenRLHF code vs the papers' c = 1", checks,
        reason=(f"Peers give c = {c_peers['trl']:.6f} (TRL), {c_peers['verl']:.6f} (verl), "
                f"{c_peers['openrlhf']:.6f} (OpenRLHF) on a binary pair, where the papers use c = 1; on "
                f"{len(diff)} real-reward pairs their A_1 deviates from c sign(r1 - r2) by at most "
                f"{max(sign_gap.values()):.2g}, through eps only. Float32, as the peers run."),
        numbers=numbers)
    return evidence, {"binary_pair_c": {"paper": c_paper, "ours_sample_std": c_ours, **c_peers}, **numbers}


def _equal_reward_cells(values: tuple[float, ...]) -> list[dict[str, Any]]:
    """For each value and G: float32 mean residue r - mean(r), std, each peer's max |A| and ours.

    verl and OpenRLHF see each (1, G) group alone (OpenRLHF's std of a (Q, G) batch rounds
    differently from a single row's). TRL runs once per G on every value's group (one run costs
    ~0.3 s); its group-wise nanmean and nanstd give each group the advantages it gets alone."""
    trl_peaks = {G: trl_group_advantages(torch.tensor([[value] * G for value in values], dtype=torch.float32))
                 .abs().amax(dim=1).tolist() for G in GROUP_SIZES}
    cells = []
    for row, value in enumerate(values):
        for G in GROUP_SIZES:
            r = torch.full((1, G), value, dtype=torch.float32)
            cell: dict[str, Any] = {"reward": value, "G": G, "mean_residue": float((r - r.mean())[0, 0]),
                                    "std": float(r.std())}
            for name, peer in PEERS.items():
                cell[f"max_abs_advantage_{name}"] = trl_peaks[G][row] if name == "trl" else float(peer(r).abs().max())
            ours = [compute_advantages(r.numpy(), "grpo", std="sample", eps=eps) for eps in (*PEER_EPS.values(), 1e-6)]
            cell["max_abs_advantage_ours"] = float(max(np.abs(a).max() for a in ours))
            cells.append(cell)
    return cells


def by4_record() -> tuple[Evidence, dict[str, Any]]:
    """BY-4: equal non-dyadic float32 rewards, G = 2..16, peers vs ours; dyadic rewards as control."""
    cells = _equal_reward_cells(NON_DYADIC_REWARDS)
    control = _equal_reward_cells(DYADIC_REWARDS)
    residues = [abs(c["mean_residue"]) for c in cells if c["mean_residue"] != 0]
    residue_ulps = [abs(c["mean_residue"]) / float(np.spacing(np.float32(c["reward"])))
                    for c in cells if c["mean_residue"] != 0]
    stds = [c["std"] for c in cells if c["std"] != 0]

    def spurious(name: str, reward: float | None = None) -> list[float]:
        chosen = [c for c in cells if reward is None or c["reward"] == reward]
        return [c[f"max_abs_advantage_{name}"] for c in chosen if c[f"max_abs_advantage_{name}"] != 0]

    peak = {name: max(spurious(name), default=0.0) for name in PEERS}
    low = {name: min(spurious(name), default=0.0) for name in PEERS}
    low_035 = {name: min(spurious(name, 0.35), default=0.0) for name in PEERS}
    peak_035 = {name: max(spurious(name, 0.35), default=0.0) for name in PEERS}
    with_residue = [c for c in cells if c["std"] != 0 or c["mean_residue"] != 0]
    g_with_residue = sorted({c["G"] for c in with_residue if c["reward"] == 0.35})
    share = len(with_residue) / len(cells)
    g2_residues = sum(c["G"] == 2 for c in with_residue)
    checks = {
        "ours: exact zero advantages on every equal-reward group (every eps)":
            all(c["max_abs_advantage_ours"] == 0.0 for c in cells + control),
        "equal 0.35 rewards leave a float32 residue for some G in 2..16": bool(g_with_residue),
        "the residue is of order 1e-8: 1 to 4 float32 ulps of the reward (ulp(0.35) = 3.0e-8)":
            bool(residues) and all(1 <= u <= 4 for u in residue_ulps),
        "at 0.35 the peers' spurious |A| spans 3e-4 (TRL's smallest, within 15%) to about 0.9 (OpenRLHF's largest, "
        "in [0.85, 1])": abs(low_035["trl"] / 3e-4 - 1) <= 0.15 and 0.85 <= peak_035["openrlhf"] <= 1.0,
        "verl's spurious |A| lies between TRL's and OpenRLHF's":
            peak["trl"] < low["verl"] and peak["verl"] < low["openrlhf"],
        "dyadic rewards (control) leave no residue and no spurious advantage":
            all(c["std"] == 0 and all(c[f"max_abs_advantage_{n}"] == 0 for n in PEERS) for c in control),
        "every non-dyadic value leaves a residue at every G in 2..16": share == 1.0,
    }
    numbers = {
        "share_of_cells_with_residue": share, "G_with_residue_at_0.35": g_with_residue,
        "cells_with_residue_at_G_2": g2_residues,
        "max_abs_mean_residue": max(residues, default=0.0), "max_std_residue": max(stds, default=0.0),
        "max_residue_in_float32_ulps": max(residue_ulps, default=0.0),
        **{f"spurious_abs_advantage_min_{n}": low[n] for n in PEERS},
        **{f"spurious_abs_advantage_max_{n}": peak[n] for n in PEERS},
        **{f"spurious_abs_advantage_at_0.35_min_{n}": low_035[n] for n in PEERS},
        **{f"spurious_abs_advantage_at_0.35_max_{n}": peak_035[n] for n in PEERS},
        "cells": len(cells), "torch": torch.__version__, "trl_route": trl_route(),
    }
    missing = [G for G in GROUP_SIZES if G not in g_with_residue]
    evidence = Evidence.from_checks(
        "BY-4", "exact", "float32 residue of equal rewards: spurious advantages of TRL / verl / OpenRLHF", checks,
        reason=(f"On {len(cells)} (value, G) groups of equal non-dyadic float32 rewards, {share:.0%} leave a residue "
                f"(max |r - mean| {numbers['max_abs_mean_residue']:.2g}); spurious |A|: TRL {low['trl']:.2g}-"
                f"{peak['trl']:.2g}, verl {low['verl']:.2g}-{peak['verl']:.2g}, OpenRLHF {low['openrlhf']:.2g}-"
                f"{peak['openrlhf']:.2g}; ours exactly 0. At 0.35 there is no residue for G in {missing}; "
                f"{g2_residues} residues at G = 2 (r + r and the halving are exact in binary floating point). "
                "CPU torch; a GPU may round its reductions differently."),
        numbers=numbers)
    return evidence, {"non_dyadic": cells, "dyadic_control": control, **numbers}


def plot_by4(cells: list[dict[str, Any]], path: Path) -> None:
    """Spurious |A| against G for equal rewards 0.35 and the worst non-dyadic value, per peer (BY-4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 1e-10
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, title, rewards in ((axes[0], "equal rewards 0.35", (0.35,)),
                               (axes[1], "worst of the non-dyadic values", NON_DYADIC_REWARDS)):
        for name in (*PEERS, "ours"):
            key = f"max_abs_advantage_{name}"
            y = [max(max(c[key] for c in cells if c["G"] == G and c["reward"] in rewards), floor)
                 for G in GROUP_SIZES]
            ax.plot(GROUP_SIZES, y, marker="o", label=f"{name} (eps {PEER_EPS[name]:g})" if name in PEERS
                    else "ours (exact 0)")
        ax.axhline(floor, color="grey", linestyle=":", linewidth=1)
        ax.set(yscale="log", xlabel="group size G", title=f"BY-4: {title}")
    axes[0].set_ylabel(f"max |A| in the group (0 drawn at {floor:g})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels))
    fig.suptitle("Spurious advantages on G equal float32 rewards (CPU torch)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def check_tt3(ctx: RunContext) -> list[Evidence]:
    """TT-3 from the peers' code (TRL, verl, OpenRLHF): 2-GRPO's binary advantages are
    c (r_1 - r_2) with c ~ 1/sqrt(2), not the papers' 1; ``PAIR_COUNT[ctx.budget]`` real-reward
    pairs drawn from ``ctx.seed``. Writes ``peers/tt3.json``."""
    if not ctx.wants("TT-3"):
        return []
    rng = np.random.default_rng(ctx.seed)  # the check's one stream, as before the checks were split
    record, table = tt3_record(rng, PAIR_COUNT[ctx.budget])
    atomic_write_json(ctx.out_dir / "peers" / "tt3.json", {"peer_eps": PEER_EPS, "trl_route": trl_route(), **table})
    return [dataclasses.replace(record, artefacts=("peers/tt3.json",))]


def check_by4(ctx: RunContext) -> list[Evidence]:
    """BY-4 from the peers' code: equal non-dyadic float32 rewards leave a residue that TRL, verl
    and OpenRLHF turn into spurious advantages, where ours are exact zeros (no randomness: the
    same at every budget and seed). Writes ``peers/by4.json`` and ``peers/by4_spurious_advantages.png``."""
    if not ctx.wants("BY-4"):
        return []
    record, table = by4_record()
    out_dir = ctx.out_dir / "peers"
    plot_by4(table["non_dyadic"], out_dir / "by4_spurious_advantages.png")
    atomic_write_json(out_dir / "by4.json", {"peer_eps": PEER_EPS, "trl_route": trl_route(), **table})
    return [dataclasses.replace(record, artefacts=("peers/by4.json", "peers/by4_spurious_advantages.png"))]
