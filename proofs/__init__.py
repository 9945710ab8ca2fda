"""proofs: sympy derivations of the claims, each returning an Evidence record (method ``proof``)."""
