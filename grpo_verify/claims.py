"""The claims table: every claim of docs/THEORY.md, once, with its stable id and the checks that
give evidence for it. It is the only table from a claim id to its checks: the runner, the CLI's
``--only``/``--kind``, ``grpo-verify claims``, the report's columns and docs/CLAIMS.md are derived
from it.

A check is ``(kind, "module:function")``; the function has the signature
``check(ctx: evidence.record.RunContext) -> list[Evidence]`` and returns the records of the claims
``ctx.wants``. One function may be listed under several claims (``check_vi1_vi2``): the runner calls
it once per run with ``ctx.claim_ids`` = the selected claims that list it.

Sources: TT = Wu et al., "It Takes Two: Your GRPO Is Secretly DPO" (arXiv 2510.00977);
VI = Yang et al., GRPOVI (arXiv 2505.23247); RZ = Razin et al. (arXiv 2310.20703, 2503.15477);
DR = Liu et al., Dr. GRPO (2025); BY = beyond the papers (this toolkit).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from evidence.record import METHODS, Evidence, RunContext
from theory.validation import check_choice


@dataclass(frozen=True)
class Check:
    """One check of a claim: its ``kind`` (one of ``evidence.record.METHODS``: proof, exact,
    simulation, llm) and its ``target``, the check function as ``"module:function"``."""

    kind: str
    target: str

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, METHODS)
        module, _, function = self.target.partition(":")
        if not module or not function.isidentifier():
            raise ValueError(f"target={self.target!r} is not of the form 'module:function'")

    def load(self) -> Callable[[RunContext], list[Evidence]]:
        """The check function, imported now (imports stay lazy until a check runs)."""
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class Claim:
    """A checkable statement: ``id`` (e.g. ``TT-4``), a short ``title``, the precise ``statement``
    (as docs/THEORY.md gives it, with any looseness of the paper named), its ``source`` and the
    ``checks`` that give evidence for it."""

    id: str
    title: str
    statement: str
    source: str
    checks: tuple[Check, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of evidence this claim gets, in the order of ``METHODS``."""
        return tuple(m for m in METHODS if any(c.kind == m for c in self.checks))


CLAIMS: tuple[Claim, ...] = (
    Claim("TT-1", "GRPO is a contrastive estimator",
          "Since sum_i A_i = 0, g = (W/G)(sbar+ - sbar-) with W = sum_{A_i>0} A_i. Binary rewards, k of G, "
          "population std: A+ = sqrt((1-pk)/pk), A- = -sqrt(pk/(1-pk)), g = sqrt(pk(1-pk)) (mean positive "
          "score - mean negative score), pk = k/G; sample std multiplies by sqrt((G-1)/G).",
          "TT Prop 3.1/3.2",
          checks=(Check("proof", "proofs.contrastive:check_tt1"),
                  Check("exact", "simulations.exact.enumeration:check_tt1"))),
    Claim("TT-2", "DPO is a 1-vs-1 contrastive estimator",
          "grad -log sigmoid(beta (h+ - h-)) = -beta sigmoid(beta (h- - h+)) (grad h+ - grad h-), h = log pi/pi_ref.",
          "TT Lemma B.1",
          checks=(Check("proof", "proofs.contrastive:check_tt2"),
                  Check("exact", "simulations.exact.enumeration:check_tt2"))),
    Claim("TT-3", "2-GRPO advantage is a signed pair difference",
          "G = 2, binary rewards: A_1 = c (r_1 - r_2), c = 1 (population, eps 0), 1/sqrt(2) (sample), "
          "1/(1+2eps) (population with eps); 2-GRPO == RLOO(2) == 2 x Dr.GRPO(2). Real rewards: "
          "A_1 = c sign(r_1 - r_2).",
          "TT Sec. 5",
          checks=(Check("proof", "proofs.contrastive:check_tt3"),
                  Check("exact", "simulations.exact.enumeration:check_tt3"),
                  Check("exact", "gpu_runs.peers:check_tt3"))),
    Claim("TT-4", "2-GRPO is unbiased up to a constant scale; larger G re-weights prompts",
          "E[A | r] = c (r - p) exactly for G = 2; E[A|r] -> (r-p)/sqrt(p(1-p)) as G -> inf; the expected "
          "update is lambda_G(p) grad p with lambda_2 constant and lambda_G depending on p for G >= 4 "
          "(lambda_16(0.5) = 1.93, lambda_16(0.05) = 3.27, population std). THEORY.md says 'G > 2'; "
          "lambda_3 = sqrt(2) is constant too (population std).",
          "TT Prop 5.1 / C.1",
          checks=(Check("proof", "proofs.unbiasedness:check_tt4"),
                  Check("exact", "simulations.exact.enumeration:check_tt4"),
                  Check("simulation", "simulations.studies.tt4_unbiasedness:check_tt4"))),
    Claim("TT-5", "The negative sample acts as a control variate",
          "Var(g+ - c g-) <= Var(g+) iff 0 <= c <= 2 Cov/Var(g-); optimum c* = Cov/Var(g-) gives "
          "(1 - rho^2) Var(g+). GRPO's c = 1 reduces variance iff rho >= (1/2) sqrt(Var(g-)/Var(g+)).",
          "TT Prop 4.1",
          checks=(Check("proof", "proofs.variance:check_tt5"),
                  Check("simulation", "simulations.studies.tt5_control_variate:check_tt5"),
                  Check("pretrained", "gpu_runs.pretrained.study:check_pretrained"))),
    Claim("TT-6", "Gradient variance at a fixed rollout budget",
          "Paper: Var(g_B) = Var(g)/B. True for Q prompts x G rollouts, B = QG: "
          "Var = (G/B) Var_q(mu_q) + E_q[sigma_q^2]/B plus the baseline's dependence on G; measured as "
          "trace variance, SNR and cosine to the true gradient for G in {2,...,32} at fixed B.",
          "TT Lemma 5.3 / C.3",
          checks=(Check("proof", "proofs.variance:check_tt6"),
                  Check("simulation", "simulations.studies.tt6_fixed_budget:check_tt6"),
                  Check("pretrained", "gpu_runs.pretrained.study:check_pretrained"))),
    Claim("TT-7", "Two rollouts over more prompts explore at least as well",
          "1 - prod_{i<m} (1-p_i)^2 >= 1 - (1-p_0)^{2m} when every p_i >= p_0.",
          "TT Prop 5.4",
          checks=(Check("proof", "proofs.exploration:check_tt7"),)),
    Claim("TT-8", "Silent-group rate",
          "P(all G rewards equal) = p^G + (1-p)^G. TT v3 App. D.3 prints 1 - rbar^2 - (1-rbar)^2, the "
          "complement, and using the mean pass rate rbar instead of per-prompt p_q under-estimates it (Jensen).",
          "TT v3 App. D.3",
          checks=(Check("proof", "proofs.silent:check_tt8"),
                  Check("exact", "simulations.exact.enumeration:check_tt8"),
                  Check("simulation", "simulations.studies.tt8_silent_rates:check_tt8"),
                  Check("pretrained", "gpu_runs.pretrained.study:check_pretrained"))),
    Claim("TT-9", "2-GRPO keeps ~97.6% of 16-GRPO's score with 12.5% of the rollouts and ~21% of the time",
          "2-GRPO (256 x 2, lr 8e-6) vs 16-GRPO (32 x 16, lr 1e-6) at 512 rollouts per mini-batch: 97.6% "
          "of the score, 12.5% of the rollouts, 21% of the wall-clock; 2-GRPO+RS 101.1% at ~46% of the "
          "time; small differences across G at fixed prompts per mini-batch. Judged here by the share of "
          "16-GRPO's improvement over the start policy that 2-GRPO recovers (TT's own: about 95%).",
          "TT Table 1, v3",
          checks=(Check("simulation", "simulations.studies.tt9_training:check_tt9"),
                  Check("llm", "gpu_runs.tt9.experiment:check_tt9_vi3"))),
    Claim("VI-1", "GRPOVI reward adjustment model",
          "maximise sum p_i z_i^2 s.t. lo <= z_i <= hi, sum p_i z_i = sum p_i r_i, z weakly ordered as r: "
          "preserves the p-weighted mean and the order, never decreases the p-weighted variance.",
          "VI",
          checks=(Check("proof", "proofs.grpovi:check_vi1"),
                  Check("exact", "simulations.exact.grpovi_brute_force:check_vi1_vi2"))),
    Claim("VI-2", "GRPOVI global optimum in O(n log n)",
          "Extreme points are hi on a prefix, one common value on a middle block, lo on the rest; the optimum "
          "fills hi while cumulative p <= tau = sum p_i (r_i - lo)/(hi - lo), one fractional value, lo after. "
          "Ties: the paper's weak order lets equal rewards split (ties='split'); ties='keep' merges them.",
          "VI",
          checks=(Check("proof", "proofs.grpovi:check_vi2"),
                  Check("exact", "simulations.exact.grpovi_brute_force:check_vi1_vi2"))),
    Claim("VI-3", "GRPOVI trains faster than GRPO",
          "Adjusted rewards (weights from the reference policy) before GRPO's advantages give higher reward "
          "than GRPO after the same number of steps.",
          "VI experiments",
          checks=(Check("simulation", "simulations.studies.vi3_grpovi_training:check_vi3"),
                  Check("llm", "gpu_runs.tt9.experiment:check_tt9_vi3"))),
    Claim("VI-4", "Rule-based 0/1 rewards are already optimal",
          "0/1 rewards are a fixed point of the adjustment.",
          "VI",
          checks=(Check("proof", "proofs.grpovi:check_vi4"),
                  Check("exact", "simulations.exact.grpovi_brute_force:check_vi4"))),
    Claim("RZ-1", "Low reward variance means slow learning",
          "Tabular softmax: ||grad E[r]|| is bounded by a multiple of the reward std under the policy; "
          "autoregressive softmax policies need time Omega(Var^(-1/3)) to raise E[r] by gamma.",
          "RZ 2024; RZ 2025 Thm 1",
          checks=(Check("proof", "proofs.learning_speed:check_rz1"),
                  Check("simulation", "simulations.studies.rz1_learning_speed:check_rz1"))),
    Claim("DR-1", "Std normalisation biases toward too-easy and too-hard prompts",
          "Dividing by the group std up-weights prompts with p near 0 or 1 (lambda_G of TT-4); Dr. GRPO "
          "removes the std.",
          "DR",
          checks=(Check("proof", "proofs.unbiasedness:check_dr1"),
                  Check("simulation", "simulations.studies.dr1_difficulty:check_dr1"))),
    Claim("DR-2", "Per-sequence length normalisation biases response length",
          "Dividing each sequence's loss by its length favours short correct and long wrong answers; a "
          "constant token normaliser removes the bias.",
          "DR",
          checks=(Check("proof", "proofs.length_bias:check_dr2"),)),
    Claim("BY-1", "GRPOVI is a no-op for 2-GRPO",
          "Any order-preserving adjustment leaves 2-GRPO's normalised advantages (eps = 0) unchanged when "
          "the two rewards differ (except where ties split); with eps > 0 they move by O(eps).",
          "beyond the papers",
          checks=(Check("proof", "proofs.grpovi:check_by1"),
                  Check("exact", "simulations.exact.grpovi_brute_force:check_by1"))),
    Claim("BY-2", "2-GRPO optimises self-win-rate, not expected reward, on continuous rewards",
          "E[A_1 | r_1 = r] = c (P(r' < r) - P(r' > r)) for 2-GRPO.",
          "beyond the papers",
          checks=(Check("proof", "proofs.winrate:check_by2"),
                  Check("exact", "simulations.exact.enumeration:check_by2"),
                  Check("simulation", "simulations.studies.by2_win_rate:check_by2"))),
    Claim("BY-3", "Compute-optimal group size",
          "At a fixed rollout budget, which G (or adaptive allocation across prompts) maximises expected "
          "improvement depends on the pass-rate distribution. Checked: an adaptive allocation (more rollouts "
          "to prompts whose estimated pass rate is near 1/2, saturated prompts skipped) does at least as well "
          "as the best fixed G on every distribution; the best fixed G per distribution is reported.",
          "beyond the papers",
          checks=(Check("simulation", "simulations.studies.by3_allocation:check_by3"),)),
    Claim("BY-4", "Float32 equal-reward residue",
          "Peers' std of equal non-dyadic float32 rewards leaves ~1e-8 residue and spurious advantages "
          "of 3e-4 to 0.9 depending on eps; a tolerance-based silent-group test gives exact zeros.",
          "beyond the papers",
          checks=(Check("exact", "gpu_runs.peers:check_by4"),)),
)

CLAIMS_BY_ID: dict[str, Claim] = {claim.id: claim for claim in CLAIMS}


def get_claim(claim_id: str) -> Claim:
    """The registered claim with this id; ValueError naming the known ids otherwise."""
    try:
        return CLAIMS_BY_ID[claim_id]
    except KeyError:
        raise ValueError(f"claim_id={claim_id!r} is unknown; known ids: {', '.join(CLAIMS_BY_ID)}") from None

