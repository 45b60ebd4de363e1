"""Torch building blocks of SemST, usable without AnnData."""

from ._contrastive import ContrastiveGCN
from ._fsm import FSM
from ._gcn import GCNEncoder, gcn_adjacency
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._model import LossWeights, SemSTModel
from ._train import Sample, TrainingData, embed, train
from ._zinb import ZINBDecoder

__all__ = [
    "ContrastiveGCN",
    "FSM",
    "GCNEncoder",
    "LossWeights",
    "Sample",
    "SemSTModel",
    "TrainingData",
    "ZINBDecoder",
    "dicr_loss",
    "embed",
    "gcn_adjacency",
    "spatial_pair_loss",
    "train",
    "zinb_nll",
]
