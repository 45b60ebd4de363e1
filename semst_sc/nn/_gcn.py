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
    a = sp.csr_matrix(adjacency, dtype=np.float32, copy=True)  # the caller's graph keeps its weights
    a.eliminate_zeros()  # a stored zero weight is no edge
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
        """Encode ``x`` over a normalised sparse ``adjacency`` (see :func:`gcn_adjacency`).

        Without autograd (embedding every spot) the same layers run row chunk by row chunk, with the bias and
        the ReLU in place: at a million cells this step is the memory peak of the whole pipeline.
        """
        if torch.is_grad_enabled():
            return convolve(self.conv2, torch.relu(convolve(self.conv1, x, adjacency)), adjacency)
        h = _convolve_in_chunks(self.conv1, x, adjacency).relu_()
        return _convolve_in_chunks(self.conv2, h, adjacency)


def propagate(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adjacency @ x`` for a sparse CSR ``adjacency``, the same bit for bit on every run.

    On CPUs torch's sparse product is deterministic. cuSPARSE's, on GPUs, is not, and torch does not flag it: two
    identical steps of the dual encoder on an H200 parted at the feature graph's first convolution
    (``benchmarks/gpu_training.py determinism``). There each edge's row of ``x`` is gathered and summed into its
    row with ``index_put(accumulate=True)``, deterministic (forward and backward) under
    :func:`torch.use_deterministic_algorithms`, as :func:`~semst_sc.nn.train` and :func:`~semst_sc.nn.embed` run.
    Other devices (Apple's ``mps``) take torch's sparse product, not checked for determinism there.
    """
    if adjacency.layout != torch.sparse_csr:
        raise TypeError(f"propagate takes a sparse CSR adjacency (see gcn_adjacency), got layout {adjacency.layout}")
    if x.dim() != 2 or x.dtype != adjacency.dtype:
        raise TypeError(
            f"propagate takes x as a 2-D tensor of the adjacency's dtype {adjacency.dtype} (spots x features), "
            f"got {x.dim()}-D {x.dtype}"
        )
    return torch.sparse.mm(adjacency, x) if x.device.type != "cuda" else _gather_sum(adjacency, x)


def _gather_sum(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adjacency @ x`` (sparse CSR) as a gather of each edge's row of ``x`` and a sum per row."""
    n = adjacency.shape[0]
    rows = torch.repeat_interleave(torch.arange(n, device=x.device), adjacency.crow_indices().diff())
    edges = x[adjacency.col_indices()] * adjacency.values()[:, None]
    return x.new_zeros(n, x.shape[1]).index_put((rows,), edges, accumulate=True)


def convolve(conv, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """``conv(x, adjacency)`` of a ``GCNConv`` (no normalisation, no self-loops added) through :func:`propagate`.

    The same values as torch-geometric's own call on CPUs, bit for bit; deterministic on GPUs too.
    """
    out = propagate(adjacency, conv.lin(x))
    return out if conv.bias is None else out + conv.bias


def _convolve_in_chunks(conv, x: torch.Tensor, adjacency: torch.Tensor, chunk_size: int = 65_536) -> torch.Tensor:
    """:func:`convolve` without autograd, on a pre-normalised sparse CSR adjacency.

    The adjacency is multiplied ``chunk_size`` rows at a time into one output whose bias is added in place:
    torch's sparse product of the whole adjacency takes a working copy as large as its output.
    """
    xw = conv.lin(x)
    n = adjacency.shape[0]
    out = torch.empty(n, xw.shape[1], dtype=xw.dtype, device=xw.device)
    crow, col, val = adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        first, last = int(crow[start]), int(crow[stop])
        with warnings.catch_warnings():  # torch flags sparse CSR as beta
            warnings.simplefilter("ignore", UserWarning)
            rows = torch.sparse_csr_tensor(
                crow[start : stop + 1] - first, col[first:last], val[first:last], size=(stop - start, n)
            )
        out[start:stop] = propagate(rows, xw)
    return out if conv.bias is None else out.add_(conv.bias)
