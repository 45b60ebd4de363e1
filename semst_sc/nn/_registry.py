"""The spot encoders :func:`semst_sc.tl.semst` can train, by name: a new encoder is one file and one line here."""

from __future__ import annotations

from ._contrastive import ContrastiveGCN
from ._encoder import SpotEncoder
from ._model import SemSTModel

#: encoder name -> :class:`~semst_sc.nn.SpotEncoder` subclass
ENCODERS: dict[str, type[SpotEncoder]] = {
    "dual": SemSTModel,
    "contrastive": ContrastiveGCN,
}


def get_encoder(name: str) -> type[SpotEncoder]:
    """Return the encoder class registered as ``name``, or raise an error listing the registered names."""
    if not isinstance(name, str) or name not in ENCODERS:  # a list or a class: not a name
        raise ValueError(f"encoder must be one of {sorted(ENCODERS)} or a SpotEncoder instance, got {name!r}")
    return ENCODERS[name]
