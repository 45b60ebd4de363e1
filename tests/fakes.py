"""Test doubles shared by the test modules."""

import numpy as np


class CountingEncoder:
    """Deterministic text encoder that records the texts it embeds."""

    def __init__(self, dim=8):
        self.dim = dim
        self.seen = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.stack([np.random.default_rng(len(t) * 7919 + sum(map(ord, t))).normal(size=self.dim) for t in texts])
