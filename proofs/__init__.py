"""proofs: sympy derivations of the claims, each returning an Evidence record (method ``proof``).

One module per claim family; each ``prove_*`` builds a :class:`proofs.record.Proof` from ``lemma_*``
functions whose keyword arguments are the claimed expressions, so a wrong statement can be fed in
and must come back ``fails``. Each ``check_*`` is the thin check that ``grpo_verify.claims`` names:
``check_xxx(ctx) -> [prove_xxx(...).evidence(ctx.out_dir)]``, with any size taken from a per-budget dict
in its module and the attachments under ``ctx.out_dir/proofs``.

- :mod:`proofs.contrastive`: TT-1, TT-2, TT-3
- :mod:`proofs.unbiasedness`: TT-4 (exact part and G -> infinity limit, one check), DR-1
- :mod:`proofs.variance`: TT-5, TT-6
- :mod:`proofs.exploration`: TT-7
- :mod:`proofs.silent`: TT-8
- :mod:`proofs.learning_speed`: RZ-1
- :mod:`proofs.length_bias`: DR-2
- :mod:`proofs.winrate`: BY-2
- :mod:`proofs.grpovi`: VI-1, VI-2, VI-4, BY-1

:mod:`proofs.symbolic` transcribes the estimators of :mod:`theory.advantages` into sympy.
"""
