"""Torch building blocks of SemST, usable without AnnData."""

from ._contrastive import ContrastiveGCN
from ._distributed import distributed_session
from ._fsm import FSM
from ._gcn import GCNEncoder, gcn_adjacency
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._minibatch import Batch, GraphData, SeedForward, batch_loss, embed_layerwise, sample_batch, train_minibatch
from ._model import LossWeights, SemSTModel
from ._train import Sample, TrainingData, embed, train
from ._zinb import ZINBDecoder

__all__ = [
    "Batch",
    "ContrastiveGCN",
    "FSM",
    "GCNEncoder",
    "GraphData",
    "LossWeights",
    "Sample",
    "SeedForward",
    "SemSTModel",
    "TrainingData",
    "ZINBDecoder",
    "batch_loss",
    "dicr_loss",
    "distributed_session",
    "embed",
    "embed_layerwise",
    "gcn_adjacency",
    "sample_batch",
    "spatial_pair_loss",
    "train",
    "train_minibatch",
    "zinb_nll",
]
