"""Toy data sets from scikit-learn, returned as plain Python lists."""

from __future__ import annotations

import random


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 1337) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half-moons with labels -1 and +1.

    `seed=1337` gives the classic demo's data (it seeded numpy's global
    generator with 1337; a RandomState with the same seed draws the same).
    """
    # Importing scikit-learn draws from Python's `random` (seen with 1.x): keep its state, so that
    # `random.seed(1337); make_moons(); MLP(...)` gives the classic demo's weights on a first call too.
    state = random.getstate()
    try:
        import numpy as np
        from sklearn.datasets import make_moons as _sk_make_moons

        X, y = _sk_make_moons(n_samples=n_samples, noise=noise, random_state=np.random.RandomState(seed))
    finally:
        random.setstate(state)
    return X.tolist(), [float(2 * label - 1) for label in y]
