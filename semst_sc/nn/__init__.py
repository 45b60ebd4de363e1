"""Torch building blocks of SemST, usable without AnnData: encoders, the FSM, losses, data, one training loop."""

from ._contrastive import ContrastiveGCN
from ._data import AUTO_MINIBATCH_SPOTS, Batch, FullBatchSampler, GraphData, NeighbourSampler, sample_batch
from ._distributed import distributed_session
from ._encoder import SpotEncoder
from ._fsm import FSM
from ._gcn import GCNEncoder, convolve, gcn_adjacency, propagate
from ._inputs import standardised_log
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll
from ._model import SemSTModel
from ._pair_weights import pair_similarity_weights
from ._registry import ENCODERS, get_encoder
from ._train import embed, train
from ._zinb import ZINBDecoder

__all__ = [
    "AUTO_MINIBATCH_SPOTS",
    "Batch",
    "ContrastiveGCN",
    "ENCODERS",
    "FSM",
    "FullBatchSampler",
    "GCNEncoder",
    "GraphData",
    "NeighbourSampler",
    "SemSTModel",
    "SpotEncoder",
    "ZINBDecoder",
    "convolve",
    "dicr_loss",
    "distributed_session",
    "embed",
    "gcn_adjacency",
    "get_encoder",
    "pair_similarity_weights",
    "propagate",
    "sample_batch",
    "spatial_pair_loss",
    "standardised_log",
    "train",
    "zinb_nll",
]
