"""What the peers' own GRPO advantage code computes (producer ``peers``, method ``exact``: TT-3, BY-4).

A_i = (r_i - mean(r)) / (std(r) + eps), sample std, computed in torch float32 as each peer does:

| peer     | eps  | route                                                                          |
|----------|------|--------------------------------------------------------------------------------|
| TRL 1.16 | 1e-4 | TRL's own lines: the ``sum_then_normalize`` branch of                          |
|          |      | ``GRPOTrainer._generate_and_score_completions`` and ``trl.trainer.utils.nanstd``, |
|          |      | read from the installed source and executed as written (a transcription of     |
|          |      | them when trl is absent)                                                       |
| verl     | 1e-6 | transcription of ``compute_grpo_outcome_advantage`` (per-group loop)           |
| OpenRLHF | 1e-9 | transcription of ``group_norm``: ``(r - r.mean(-1)) / (r.std(-1) + 1e-9)``     |

TT-3: with G = 2 and binary rewards the peers give A_1 = c (r_1 - r_2) with c = 1/(sqrt(2) + 2 eps),
about 1/sqrt(2), where the papers' analysis has c = 1. BY-4: the float32 mean of G equal rewards
that are not dyadic (0.35) can miss them by a few ulps (about 1e-8), depending on G (never at
G = 2, where r + r and the halving are exact); the peers divide that residue by its own std plus
eps and emit a spurious advantage, where ours (``theory.advantages``) are exact zeros.
Everything runs on the CPU: a GPU's reductions may round differently.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import CodeType, SimpleNamespace
from typing import Any

import numpy as np
import torch

from evidence.io import atomic_path, atomic_write_json
from evidence.record import Evidence, RunContext
from theory.advantages import group_advantages
from theory.estimators import compute_advantages
from theory.expectations import two_grpo_scale

COMMAND = "grpo-verify report --only peers --budget {budget}"
PEER_EPS = {"trl": 1e-4, "verl": 1e-6, "openrlhf": 1e-9}
"""eps of each peer's std normaliser (THEORY.md, peer conventions)."""
NON_DYADIC_REWARDS = (0.35, 0.05, 0.1, 0.2, 0.3, 1 / 3, 0.45, 0.7, 0.9)
DYADIC_REWARDS = (0.0, 0.25, 0.5, 0.75, 1.0)
GROUP_SIZES = tuple(range(2, 17))
PAIR_COUNT = {"smoke": 256, "default": 4096, "full": 65536}


@lru_cache(maxsize=1)
def trl_source() -> tuple[CodeType, Callable[..., torch.Tensor], str] | None:
    """TRL's advantage lines compiled from the installed source, its ``nanstd`` and a route label;
    None when trl is not installed or its source does not have the layout of 1.16."""
    try:
        spec = importlib.util.find_spec("trl")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent / "trainer"
    trainer_path, utils_path = root / "grpo_trainer.py", root / "utils.py"
    try:
        trainer = ast.parse(trainer_path.read_text(encoding="utf-8"))
        utils = ast.parse(utils_path.read_text(encoding="utf-8"))
        nanstd_def = next(n for n in utils.body if isinstance(n, ast.FunctionDef) and n.name == "nanstd")
        method = next(n for n in ast.walk(trainer)
                      if isinstance(n, ast.FunctionDef) and n.name == "_generate_and_score_completions")
        branch = next(n for n in ast.walk(method) if isinstance(n, ast.If)
                      and ast.unparse(n.test) == "self.multi_objective_aggregation == 'sum_then_normalize'")
    except (OSError, SyntaxError, StopIteration):
        return None
    namespace: dict[str, Any] = {"torch": torch}
    exec(compile(ast.Module(body=[nanstd_def], type_ignores=[]), str(utils_path), "exec"), namespace)
    code = compile(ast.Module(body=branch.body, type_ignores=[]), str(trainer_path), "exec")
    version = importlib.metadata.version("trl")
    return code, namespace["nanstd"], f"trl {version} source, trainer/grpo_trainer.py executed"


def trl_route() -> str:
    """Which route :func:`trl_group_advantages` takes: TRL's executed source or the transcription."""
    source = trl_source()
    return source[2] if source is not None else "transcription of trl 1.16.0 (trl not installed)"


def trl_group_advantages_transcribed(rewards: torch.Tensor) -> torch.Tensor:
    """(r - nanmean(r)) / (nanstd(r) + 1e-4) per row, nanstd with Bessel's correction: TRL 1.16's
    formula for rewards (Q, G), written out (used when trl is not installed)."""
    mean = torch.nanmean(rewards, dim=1, keepdim=True)
    count = torch.sum(~torch.isnan(rewards), dim=1, keepdim=True)
    variance = torch.nanmean((rewards - mean) ** 2, dim=1, keepdim=True) * (count / (count - 1))
    return (rewards - mean) / (torch.sqrt(variance) + 1e-4)


def trl_group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """TRL 1.16 ``scale_rewards="group"`` advantages of rewards (Q, G), one reward function of
    weight 1, run through TRL's own lines where trl is installed."""
    source = trl_source()
    if source is None:
        return trl_group_advantages_transcribed(rewards)
    code, nanstd, _ = source
    Q, G = rewards.shape
    scope: dict[str, Any] = {
        "self": SimpleNamespace(reward_weights=torch.ones(1, dtype=rewards.dtype), scale_rewards="group"),
        "rewards_per_func": rewards.reshape(Q * G, 1).clone(),
        "unscorable_mask": torch.zeros(Q * G, dtype=torch.bool),
        "device": rewards.device,
        "num_generations": G,
    }
    exec(code, {"torch": torch, "nanstd": nanstd}, scope)
    return scope["advantages"].reshape(Q, G)


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


def check_tt3(rng: np.random.Generator, n_pairs: int) -> tuple[Evidence, dict[str, Any]]:
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
    """For each value and G: float32 mean residue r - mean(r), std, each peer's max |A| and ours."""
    cells = []
    for value in values:
        for G in GROUP_SIZES:
            r = torch.full((1, G), value, dtype=torch.float32)
            cell: dict[str, Any] = {"reward": value, "G": G, "mean_residue": float((r - r.mean())[0, 0]),
                                    "std": float(r.std())}
            for name, peer in PEERS.items():
                cell[f"max_abs_advantage_{name}"] = float(peer(r).abs().max())
            ours = [compute_advantages(r.numpy(), "grpo", std="sample", eps=eps) for eps in (*PEER_EPS.values(), 1e-6)]
            cell["max_abs_advantage_ours"] = float(max(np.abs(a).max() for a in ours))
            cells.append(cell)
    return cells


def check_by4() -> tuple[Evidence, dict[str, Any]]:
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


def produce(ctx: RunContext) -> list[Evidence]:
    """Evidence for TT-3 and BY-4 from the peers' advantage code; writes ``peers/peers.json`` and a figure."""
    out_dir = ctx.out_dir / "peers"
    rng = np.random.default_rng(ctx.seed)
    evidence, tables = [], {}
    if ctx.wants("TT-3"):
        start = time.perf_counter()
        record, tables["TT-3"] = check_tt3(rng, PAIR_COUNT[ctx.budget])
        evidence.append((record, time.perf_counter() - start, ()))
    if ctx.wants("BY-4"):
        start = time.perf_counter()
        record, tables["BY-4"] = check_by4()
        plot_by4(tables["BY-4"]["non_dyadic"], out_dir / "by4_spurious_advantages.png")
        evidence.append((record, time.perf_counter() - start, ("peers/by4_spurious_advantages.png",)))
    if not evidence:
        return []
    atomic_write_json(out_dir / "peers.json", {"peer_eps": PEER_EPS, "trl_route": trl_route(), **tables})
    return [Evidence(**{**record.__dict__, "seconds": seconds, "artefacts": ("peers/peers.json", *figures),
                        "command": COMMAND.format(budget=ctx.budget)})
            for record, seconds, figures in evidence]
