"""simulations: vectorised Monte Carlo on environments with exact gradients, and its studies."""
