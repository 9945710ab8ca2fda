"""proofs/: every sympy derivation's verdict, and the prover's ability to fail on a wrong statement."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Callable

import pytest
import sympy as sp

import proofs
from evidence.record import BUDGETS, Evidence, RunContext, Verdict
from proofs import (
    contrastive,
    exploration,
    grpovi,
    learning_speed,
    length_bias,
    silent,
    unbiasedness,
    variance,
    winrate,
)
from proofs.record import Proof

G_SMALL = 8
"""Largest G of the finite enumerations in these tests (the smoke budget's is 16)."""
VERTEX_N_SMALL = 3
"""Largest symbolic n of VI-2's vertex enumeration in these tests."""

BUILDERS = {
    "TT-1": contrastive.prove_tt1,
    "TT-2": contrastive.prove_tt2,
    "TT-3": contrastive.prove_tt3,
    "TT-4": lambda: unbiasedness.prove_tt4(G_SMALL),
    "TT-4 limit": unbiasedness.prove_tt4_limit,
    "TT-5": variance.prove_tt5,
    "TT-6": variance.prove_tt6,
    "TT-7": exploration.prove_tt7,
    "TT-8": silent.prove_tt8,
    "RZ-1": learning_speed.prove_rz1,
    "DR-1": lambda: unbiasedness.prove_dr1(G_SMALL),
    "DR-2": length_bias.prove_dr2,
    "BY-2": winrate.prove_by2,
    "VI-1": grpovi.prove_vi1,
    "VI-2": lambda: grpovi.prove_vi2(VERTEX_N_SMALL),
    "VI-4": grpovi.prove_vi4,
    "BY-1": grpovi.prove_by1,
}
EXPECTED = {name: Verdict.HOLDS for name in BUILDERS} | {
    "RZ-1": Verdict.PARTLY,  # the autoregressive Omega(Var^(-1/3)) part is not proved
    "DR-1": Verdict.PARTLY,  # strict convexity of lambda_G checked for finitely many G
}




@functools.cache
def built(name: str) -> Proof:
    """The proof record of ``BUILDERS[name]``, built once per test session."""
    return BUILDERS[name]()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_proof_reaches_its_verdict(name: str) -> None:
    evidence = built(name).evidence()
    assert evidence.verdict is EXPECTED[name], (evidence.reason, evidence.checks)
    assert evidence.method == "proof" and evidence.claim_id == name.split()[0]
    assert evidence.checks
    assert evidence.command == "" and evidence.seconds == 0  # the runner fills both, never the proof
    assert evidence.steps[0].startswith("**Statement.**")
    json.dumps(evidence.to_json(), allow_nan=False)  # numbers are JSON-serialisable, no NaN
    if evidence.verdict is Verdict.PARTLY:
        assert all(evidence.checks.values()) and evidence.reason  # partly = scope, stated, not a failed check


def proof_checks() -> dict[str, Callable[[RunContext], list[Evidence]]]:
    """Every ``check_*`` function defined in a module of the proofs package, by ``module:function``."""
    found = {}
    for info in pkgutil.iter_modules(proofs.__path__):
        module = importlib.import_module(f"proofs.{info.name}")
        found |= {f"{module.__name__}:{name}": function for name, function in vars(module).items()
                  if name.startswith("check_") and inspect.isfunction(function)
                  and function.__module__ == module.__name__}
    return found


CHECKS = proof_checks()


def claim_id_in(target: str) -> str:
    """The claim id a check is named for: ``proofs.variance:check_tt6`` -> ``TT-6``."""
    match = re.fullmatch(r"proofs\.\w+:check_([a-z]+)(\d+)", target)
    assert match, f"{target} is not named check_<claim id>"
    return f"{match[1].upper()}-{match[2]}"


def test_every_proved_claim_has_exactly_one_check() -> None:
    assert sorted(claim_id_in(target) for target in CHECKS) == sorted({name.split()[0] for name in BUILDERS})


def test_size_dicts_name_every_budget() -> None:
    assert set(unbiasedness.LARGEST_GROUP_SIZE) == set(BUDGETS)
    assert set(grpovi.LARGEST_VERTEX_GROUP_SIZE) == set(BUDGETS)


@pytest.mark.parametrize("target", sorted(CHECKS))
def test_check_returns_its_builders_records(target: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(unbiasedness.LARGEST_GROUP_SIZE, "smoke", G_SMALL)
    monkeypatch.setitem(grpovi.LARGEST_VERTEX_GROUP_SIZE, "smoke", VERTEX_N_SMALL)
    claim_id = claim_id_in(target)
    records = CHECKS[target](RunContext("smoke", tmp_path / "check", seed=0))
    expected = [built(name).evidence(tmp_path / "builder") for name in sorted(BUILDERS) if name.split()[0] == claim_id]
    assert [(e.claim_id, e.method) for e in records] == [(claim_id, "proof")] * len(expected)
    assert [e.verdict for e in records] == [e.verdict for e in expected]
    assert records == expected  # same sizes, seed and steps: the check only wraps its builder(s)
    assert all((tmp_path / "check" / artefact).is_file() for e in records for artefact in e.artefacts)


def test_rz1_check_draws_its_instance_from_the_seed(tmp_path) -> None:
    def numbers(seed: int) -> dict:
        [evidence] = learning_speed.check_rz1(RunContext("smoke", tmp_path, seed=seed))
        return evidence.numbers

    assert numbers(3) == numbers(3)
    assert numbers(3) != numbers(4)


def lemma_verdict(claim_id: str, lemma, *args, **kwargs) -> Verdict:
    """The verdict of a record holding only this lemma applied to the given (possibly wrong) statement."""
    pf = Proof(claim_id, "a single statement", "test statement")
    lemma(pf, *args, **kwargs)
    return pf.evidence().verdict


def test_lambda_4_is_not_constant_but_lambda_2_and_3_are() -> None:
    assert lemma_verdict("TT-4", unbiasedness.lemma_lambda_constant, 4) is Verdict.FAILS
    assert lemma_verdict("TT-4", unbiasedness.lemma_lambda_constant, 2) is Verdict.HOLDS
    assert lemma_verdict("TT-4", unbiasedness.lemma_lambda_constant, 3) is Verdict.HOLDS


def test_tt_v3_discard_formula_is_not_the_silent_rate() -> None:
    assert lemma_verdict("TT-8", silent.lemma_discard_rate, silent.TT_V3_DISCARD, 2) is Verdict.FAILS
    truth = silent.rbar**2 + (1 - silent.rbar) ** 2
    assert lemma_verdict("TT-8", silent.lemma_discard_rate, truth, 2) is Verdict.HOLDS


def test_wrong_tt1_scale_fails() -> None:
    wrong = sp.sqrt(contrastive.p_k)
    assert lemma_verdict("TT-1", contrastive.lemma_binary_update, "population", wrong) is Verdict.FAILS
    population_scale = contrastive.claimed_binary("population")[2]  # sample std needs the sqrt((G-1)/G) factor
    assert lemma_verdict("TT-1", contrastive.lemma_binary_update, "sample", population_scale) is Verdict.FAILS


def test_wrong_tt1_weights_fail() -> None:
    a_plus, a_minus, _ = contrastive.claimed_binary("population")
    assert lemma_verdict("TT-1", contrastive.lemma_binary_weights, "population", a_minus, a_plus) is Verdict.FAILS


def test_wrong_pair_scale_fails() -> None:
    assert lemma_verdict("TT-3", contrastive.lemma_pair_scale, "sample", sp.Integer(0), sp.Integer(1)) is Verdict.FAILS
    assert lemma_verdict("TT-3", contrastive.lemma_pair_scale, "population", contrastive.eps,
                         sp.Integer(1)) is Verdict.FAILS
    assert lemma_verdict("TT-3", contrastive.lemma_sign_form, "population", sp.Rational(1, 2)) is Verdict.FAILS


def test_wrong_dpo_weight_fails() -> None:
    b, hp, hn = contrastive.beta, contrastive.h_pos, contrastive.h_neg
    swapped = b * contrastive.sigmoid(b * (hp - hn))
    assert lemma_verdict("TT-2", contrastive.lemma_dpo_gradient, swapped) is Verdict.FAILS


def test_wrong_control_variate_range_and_threshold_fail() -> None:
    narrow = sp.Interval(0, variance.C / variance.V_neg)
    assert lemma_verdict("TT-5", variance.lemma_reduction_range, narrow) is Verdict.FAILS
    assert lemma_verdict("TT-5", variance.lemma_grpo_condition, sp.Rational(1, 2)) is Verdict.FAILS


def test_papers_variance_is_not_the_decomposition() -> None:
    G, Q = sp.symbols("G Q", positive=True)
    _, sym = variance.batch_variance(G, Q)
    paper = (sym["M2"] - sym["M1"] ** 2 + sym["S"]) / (Q * G)  # Var(g)/B with Var(g) the total variance
    assert lemma_verdict("TT-6", variance.lemma_decomposition, paper) is Verdict.FAILS


def test_wrong_length_weight_fails() -> None:
    longer_gets_more = sp.Symbol("A") * length_bias.L
    assert lemma_verdict("DR-2", length_bias.lemma_length_sign, "positive", longer_gets_more) is Verdict.FAILS


def test_expected_reward_gap_is_not_the_pair_advantage() -> None:
    q = sp.symbols("q_1:5", positive=True)
    assert lemma_verdict("BY-2", winrate.lemma_expected_winrate, "population", q[0] - q[3]) is Verdict.FAILS


def test_nonnegativity_certificate_rejects_an_indefinite_sign() -> None:
    s, t = sp.symbols("s t", positive=True)
    assert grpovi._nonnegative_rational((s + t) ** 2 / (s * t), (s, t))
    assert not grpovi._nonnegative_rational((s - t) / (s + t), (s, t))


def test_record_rejects_duplicate_check_names() -> None:
    pf = Proof("TT-7", "t", "s")
    pf.certify("one", True, "first")
    with pytest.raises(ValueError, match="check name='one'"):
        pf.certify("one", True, "again")


def test_record_scope_and_failures_drive_the_verdict() -> None:
    x = sp.Symbol("x")
    pf = Proof("TT-7", "t", "s")
    pf.identity("square", (x + 1) ** 2, x**2 + 2 * x + 1, "expand")
    assert pf.evidence().verdict is Verdict.HOLDS
    pf.limit("finite grid")
    assert pf.evidence().verdict is Verdict.PARTLY and "finite grid" in pf.evidence().reason
    pf.identity("wrong", (x + 1) ** 2, x**2 + 1, "wrong expansion")
    evidence = pf.evidence()
    assert evidence.verdict is Verdict.PARTLY and "wrong" in evidence.reason and "FAILS" in evidence.steps[-1]


def test_record_writes_attachments_under_proofs(tmp_path) -> None:
    pf = Proof("TT-4", "t", "s")
    pf.certify("ok", True, "fine")
    pf.attach("data.json", {"x": 1})
    evidence = pf.evidence(tmp_path)
    assert evidence.artefacts == ("proofs/data.json",)
    assert json.loads((tmp_path / "proofs" / "data.json").read_text()) == {"x": 1}
