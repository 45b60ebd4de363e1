"""Scores of predicted domains against the annotation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def scores(truth: pd.Series, pred) -> dict[str, float]:
    """ARI and NMI on the labelled spots."""
    keep = truth.notna().to_numpy()
    t, p = truth[keep].astype(str).to_numpy(), np.asarray(pred)[keep].astype(str)
    return {"ari": adjusted_rand_score(t, p), "nmi": normalized_mutual_info_score(t, p)}
