from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


def gcn_adjacency(adjacency: sp.spmatrix) -> torch.Tensor:
    """Return the row-normalised graph :math:`D^{-1}(A + I)` as a torch sparse CSR tensor.

    Parameters
    ----------
    adjacency
        Sparse n x n adjacency (the pattern is used, not the weights).

    Returns
    -------
    Sparse n x n tensor whose row ``i`` averages spot ``i`` with its neighbours; torch-geometric's
    ``GCNConv`` takes it in place of ``edge_index``.
    """
    a = sp.csr_matrix(adjacency, dtype=np.float32)
    a.data[:] = 1
    a = (a + sp.eye(a.shape[0], dtype=np.float32, format="csr")).tocsr()
    a.data[:] = 1
    a = (sp.diags(1 / np.asarray(a.sum(axis=1)).ravel()) @ a).tocsr().astype(np.float32)
    a.sort_indices()
    with warnings.catch_warnings():  # torch flags sparse CSR as beta; GCNConv supports it
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(a.indptr.astype(np.int64)),
            torch.from_numpy(a.indices.astype(np.int64)),
            torch.from_numpy(a.data),
            size=a.shape,
            check_invariants=False,
        )


class GCNEncoder(nn.Module):
    """Two graph convolutions (torch-geometric ``GCNConv`` on a pre-normalised graph), ReLU between.

    Parameters
    ----------
    in_dim
        Input features per spot.
    hidden_dim
        Width of the first layer.
    out_dim
        Output dimension (no output activation).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 128):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(in_dim, hidden_dim, normalize=False, add_self_loops=False)
        self.conv2 = GCNConv(hidden_dim, out_dim, normalize=False, add_self_loops=False)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` over a normalised sparse ``adjacency`` (see :func:`gcn_adjacency`)."""
        h = torch.relu(self.conv1(x, adjacency))
        return self.conv2(h, adjacency)
