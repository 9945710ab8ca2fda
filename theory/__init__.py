"""theory: the shared math (numpy and scipy only; never torch or matplotlib).

advantages (group estimators), contrastive (TT-1, TT-2), expectations (exact E[A|r], lambda_G,
silent groups), evidence (the record every producer returns), validation (argument checks).
"""
