"""Torch building blocks of SemST, usable without AnnData."""

from ._fsm import FSM
from ._gcn import GCNEncoder, gcn_adjacency
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._model import SemSTModel
from ._train import LossWeights, embed, train
from ._zinb import ZINBDecoder

__all__ = [
    "FSM",
    "GCNEncoder",
    "LossWeights",
    "SemSTModel",
    "ZINBDecoder",
    "dicr_loss",
    "embed",
    "gcn_adjacency",
    "spatial_pair_loss",
    "train",
    "zinb_nll",
]
