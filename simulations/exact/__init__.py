"""Checks of method ``exact``: the theory's closed forms and solvers against independent brute force.

- ``enumeration``: TT-1, TT-2, TT-3, TT-4, TT-8, BY-2 (all 2^G binary outcomes, finite differences).
- ``grpovi_brute_force``: VI-1, VI-2, VI-4, BY-1 (every vertex of GRPOVI's feasible polytope).

Every check is ``check_xxx(ctx: evidence.record.RunContext) -> list[Evidence]``, listed in the claims table.
"""
