"""RZ-1: low reward variance means slow learning, for a tabular softmax policy.

pi = softmax(theta) over n outputs, J = E_pi[r] = sum_y pi_y r_y. Then dJ/dtheta_z = pi_z (r_z - J), and
Var_pi(r) - ||grad J||^2 = sum_z pi_z (1 - pi_z)(r_z - J)^2 >= 0, so ||grad J||_2 <= std_pi(r). The
autoregressive bound (time Omega(Var^(-1/3)) to raise E[r] by gamma, RZ 2025 Thm 1) is not proved here.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.record import Proof

N_OUTPUTS = 4
"""Outputs of the explicit softmax instance (the Jacobian step is proved for every n)."""


def lemma_softmax_jacobian(pf: Proof) -> None:
    """For any n: with Z = e^{theta_y} + e^{theta_z} + R (R > 0 the other outputs' mass),
    d pi_y / d theta_y = pi_y (1 - pi_y) and d pi_y / d theta_z = -pi_y pi_z."""
    ty, tz = sp.symbols("theta_y theta_z", real=True)
    R = sp.Symbol("R", positive=True)
    Z = sp.exp(ty) + sp.exp(tz) + R
    pi_y, pi_z = sp.exp(ty) / Z, sp.exp(tz) / Z
    pf.identity("d pi_y / d theta_y = pi_y (1 - pi_y)", sp.diff(pi_y, ty), pi_y * (1 - pi_y),
                "Any $n$: $\\pi_y = e^{\\theta_y}/Z$, $Z = e^{\\theta_y} + e^{\\theta_z} + R$ with $R$ the rest",
                display="\\partial_{\\theta_y}\\pi_y = \\pi_y(1 - \\pi_y)")
    pf.identity("d pi_y / d theta_z = -pi_y pi_z", sp.diff(pi_y, tz), -pi_y * pi_z, "and for $z \\ne y$",
                display="\\partial_{\\theta_z}\\pi_y = -\\pi_y\\pi_z")
    pf.say("So $\\partial_{\\theta_z} J = \\sum_y r_y \\partial_{\\theta_z}\\pi_y = \\pi_z r_z - \\pi_z\\sum_y \\pi_y "
           "r_y = \\pi_z (r_z - J)$: $\\nabla J = \\pi \\odot (r - J)$.")


def lemma_gradient_instance(pf: Proof) -> None:
    """The gradient formula on an explicit n = N_OUTPUTS softmax with symbolic theta and r."""
    theta = sp.symbols(f"theta_1:{N_OUTPUTS + 1}", real=True)
    r = sp.symbols(f"r_1:{N_OUTPUTS + 1}", real=True)
    Z = sp.Add(*[sp.exp(t) for t in theta])
    pi = [sp.exp(t) / Z for t in theta]
    J = sp.Add(*[a * b for a, b in zip(pi, r, strict=True)])
    gaps = [sp.diff(J, t) - pi[i] * (r[i] - J) for i, t in enumerate(theta)]
    pf.identity(f"grad J = pi (r - J) on an explicit {N_OUTPUTS}-output softmax", sp.Add(*[g**2 for g in gaps]), 0,
                f"Check on an explicit $n = {N_OUTPUTS}$ softmax, symbolic $\\theta$ and $r$",
                display="\\sum_z (\\partial_{\\theta_z} J - \\pi_z(r_z - J))^2 = 0")


def lemma_norm_bound(pf: Proof) -> None:
    """Summand identity pi (r - J)^2 - pi^2 (r - J)^2 = pi (1 - pi)(r - J)^2, each term >= 0 for pi in [0, 1]."""
    pi, r, J = sp.symbols("pi_z r_z J", real=True)
    pf.identity("Var - ||grad J||^2 summand = pi (1 - pi)(r - J)^2", pi * (r - J) ** 2 - (pi * (r - J)) ** 2,
                pi * (1 - pi) * (r - J) ** 2,
                "Summand of $\\mathrm{Var}_\\pi(r) - \\|\\nabla J\\|^2 = \\sum_z [\\pi_z (r_z - J)^2 - \\pi_z^2 (r_z "
                "- J)^2]$")
    pf.say("Each summand is $\\ge 0$ since $0 \\le \\pi_z \\le 1$, so $\\|\\nabla_\\theta E_\\pi[r]\\|_2 \\le "
           "\\mathrm{std}_\\pi(r)$ for every $n$ (equivalently Cauchy-Schwarz with $\\pi_z^2 \\le \\pi_z$).")


def prove_rz1(seed: int = 0) -> Proof:
    """RZ-1: the tabular bound for every n; the autoregressive part is not proved (complete=False)."""
    pf = Proof("RZ-1", "tabular softmax: ||grad E[r]|| <= std of r (autoregressive bound not proved)",
               "$\\|\\nabla_\\theta E_{\\pi_\\theta}[r]\\|_2 \\le \\mathrm{std}_{\\pi_\\theta}(r)$ for "
               "$\\pi_\\theta = \\mathrm{softmax}(\\theta)$; the autoregressive $\\Omega(\\mathrm{Var}^{-1/3})$ time "
               "bound (RZ 2025 Thm 1) is not proved here.")
    lemma_softmax_jacobian(pf)
    lemma_gradient_instance(pf)
    lemma_norm_bound(pf)
    rng = np.random.default_rng(seed)
    theta, rewards = rng.normal(size=6) * 2.0, rng.uniform(size=6)

    def objective(t: np.ndarray) -> float:
        pi = np.exp(t - t.max())
        pi /= pi.sum()
        return float(pi @ rewards)

    pi = np.exp(theta - theta.max())
    pi /= pi.sum()
    J = float(pi @ rewards)
    closed = pi * (rewards - J)
    h = 1e-6
    finite = np.array([(objective(theta + h * e) - objective(theta - h * e)) / (2 * h) for e in np.eye(6)])
    pf.agree(f"||grad J|| of a 6-output softmax (seed {seed}) vs central differences", float(np.linalg.norm(closed)),
             float(np.linalg.norm(finite)), "Instance: 6 outputs, $\\theta \\sim 2N(0, 1)$, $r \\sim U(0, 1)$; "
             "$\\|\\pi \\odot (r - J)\\|$ against central differences (numpy)", tol=1e-7, route="finite differences")
    std = float(np.sqrt(pi @ (rewards - J) ** 2))
    pf.certify("instance norm <= std", float(np.linalg.norm(closed)) <= std,
               f"and $\\|\\nabla J\\| = {np.linalg.norm(closed):.6f} \\le \\mathrm{{std}}_\\pi(r) = {std:.6f}$")
    pf.number("instance std_pi(r)", std)
    pf.limit(AUTOREGRESSIVE_REASON)
    return pf


AUTOREGRESSIVE_REASON = ("Tabular bound proved for every n. The autoregressive part (time Omega(Var^(-1/3)) to raise "
                         "E[r] by gamma, RZ 2025 Thm 1) is not proved here: it needs the paper's analysis of "
                         "autoregressive softmax dynamics, beyond a sympy derivation.")


def check_rz1(ctx: RunContext) -> list[Evidence]:
    """RZ-1: ||grad_theta E_pi[r]||_2 <= std_pi(r) for pi = softmax(theta) (sympy; the numeric instance
    drawn from ``ctx.seed``)."""
    return [prove_rz1(ctx.seed).evidence(ctx.out_dir)]
