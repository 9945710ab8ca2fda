"""The figures of the pretrained-LM measurement: pass-rate histogram, TT-5 rho with its permutation control,
TT-6 variance / SNR / cosine against G at a fixed rollout budget, TT-8 silent shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evidence.io import atomic_path
from gpu_runs.pretrained.probe import ProbeResult, plot_histogram


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    _plt().close(fig)
    return path


def _num(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.2f}"


def _errorbar(ax: Any, x: list[float], rows: list[dict[str, Any]], **kw: Any) -> None:
    y = np.array([np.nan if r["value"] is None else r["value"] for r in rows], dtype=float)
    lo = np.array([np.nan if r["low"] is None else r["low"] for r in rows], dtype=float)
    hi = np.array([np.nan if r["high"] is None else r["high"] for r in rows], dtype=float)
    ax.errorbar(x, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], marker="o", capsize=3, **kw)


def write_all(data: dict[str, Any], probe: ProbeResult, folder: Path) -> dict[str, Path]:
    """Write every figure under ``folder``; returns {name: path}."""
    name = data["model"]["name"]
    return {"probe": plot_histogram(probe, folder / "pretrained_pass_rates.png", f"{name}: pass rates at T = 1"),
            "tt5": tt5_figure(data, folder / "pretrained_tt5_rho.png"),
            "tt6": tt6_figure(data, folder / "pretrained_tt6_budget.png"),
            "tt8": tt8_figure(data, folder / "pretrained_tt8_silent.png")}


def tt5_figure(data: dict[str, Any], path: Path) -> Path:
    """rho with 95% intervals (TT's pairs, GRPO groups at each G), the c = 1 threshold, the permutation control."""
    plt = _plt()
    tt5 = data["tt5"]
    groups = tt5["group_protocol"]
    labels, rows, thresholds, perms = [], [], [], []
    if "rho" in tt5["tt_protocol"]:
        tt = tt5["tt_protocol"]
        labels.append(f"TT's pairs\n({tt['prompts_with_both']} prompts)")
        rows.append(tt["rho"])
        thresholds.append(tt["threshold"]["value"])
        perms.append(tt["permuted"])
    for G, r in groups.items():
        labels.append(f"GRPO groups\nG = {G}")
        rows.append(r["rho"])
        thresholds.append(r["threshold"]["value"])
        perms.append(r["permuted"])
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = list(range(len(rows)))
    _errorbar(ax, x, rows, color="C0", linestyle="none", label="ρ(g+, g-), 95% bootstrap")
    ax.plot(x, thresholds, "v", color="C3", label="ρ that c = 1 needs: ½√(Var-/Var+)")
    for i, p in enumerate(perms):
        ax.plot([i - 0.25, i + 0.25], [p["rho_mean"]] * 2, color="0.4")
        ax.fill_between([i - 0.25, i + 0.25], p["rho_q025"], p["rho_q975"], color="0.85")
    ax.plot([], [], color="0.4", label="random cross-prompt pairing (95% of permutations)")
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("correlation")
    ax.set_title(f"TT-5 on {data['model']['name']}: is the negative half a control variate?", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def tt6_figure(data: dict[str, Any], path: Path) -> Path:
    """tr Cov g_B (with the paper's i.i.d. prediction), SNR and cosine to the reference against G at fixed B."""
    plt = _plt()
    tt6 = data["tt6"]
    Gs = [int(G) for G in tt6["rows"]]
    rows = list(tt6["rows"].values())
    B = tt6["rollout_budget"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    _errorbar(axes[0], Gs, [r["trace_cov"] for r in rows], color="C0", label="measured")
    iid = [np.nan if r["rollout_variance"]["value"] is None else r["rollout_variance"]["value"] / B for r in rows]
    axes[0].plot(Gs, iid, "k--", label="Var(g₁)/B (paper, i.i.d.)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("tr Cov g_B")
    _errorbar(axes[1], Gs, [r["snr"] for r in rows], color="C1")
    axes[1].set_ylabel("SNR = ||E g||² / tr Cov g_B")
    _errorbar(axes[2], Gs, [r["cosine"] for r in rows], color="C2")
    axes[2].set_ylabel("E cos(g_B, reference)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(Gs, [str(G) for G in Gs])
        ax.set_xlabel("group size G")
    axes[0].legend(fontsize=7)
    ratio = tt6["snr_ratio_2_16"]
    fig.suptitle(f"TT-6 on {data['model']['name']}: B = {B} rollouts per batch; SNR(2)/SNR(16) = "
                 f"{_num(ratio['value'])} [{_num(ratio['low'])}, {_num(ratio['high'])}]", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def tt8_figure(data: dict[str, Any], path: Path) -> Path:
    """Measured silent share against the per-prompt prediction and the mean-pass-rate formula, per G."""
    plt = _plt()
    tt8 = data["tt8"]
    Gs = [int(G) for G in tt8["rows"]]
    rows = list(tt8["rows"].values())
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    _errorbar(ax, Gs, [r["measured"] for r in rows], color="C0", label="measured (pool)")
    ax.plot(Gs, [r["predicted"] for r in rows], "s--", color="C1", label="E_q[p^G + (1-p)^G] (probe)")
    ax.plot(Gs, [r["mean_rate_formula"] for r in rows], "^:", color="C3", label="mean pass rate r̄^G + (1-r̄)^G")
    ax.plot([Gs[0]], [rows[0].get("tt_v3_printed", np.nan)], "x", color="k", label="TT v3 printed (G = 2)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(Gs, [str(G) for G in Gs])
    ax.set_xlabel("group size G")
    ax.set_ylabel("share of silent groups")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"TT-8 on {data['model']['name']}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
