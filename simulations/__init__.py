"""simulations: vectorised Monte Carlo on environments with exact gradients, and the checks built on it.

- ``engine``, ``environments``, ``training``, ``plotting``: the machinery (sampling, exact group moments,
  training loops, figures).
- ``exact``: checks of method ``exact`` (brute-force enumeration of the theory's estimators and the
  GRPOVI solver), one ``check_xxx(ctx)`` per claim.
- ``studies``: checks of method ``simulation``, one module per claim study.
"""
