"""Training on a GPU: skipped without one.

On a machine with a CUDA GPU and torch alone (no AnnData stack needed): ``pytest tests/test_gpu.py --noconftest``.
``SEMST_TEST_DEVICE=cpu`` runs the same checks on the CPU.
"""

import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from semst_sc import nn

DEVICE = os.environ.get("SEMST_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _deterministic():
    """Torch's deterministic mode, as nn.train and nn.embed run, restored after."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(before)


def uneven_graph(n: int, seed: int) -> sp.csr_matrix:
    """A symmetric graph whose degrees vary a lot (a few hubs), as expression graphs' do."""
    a = sp.random(n, n, density=6 / n, random_state=seed, format="lil")
    a[:3, :] = 1  # hubs linked to every spot
    a = sp.csr_matrix(a)
    return (a + a.T).tocsr()


def tissue(n: int = 400, n_genes: int = 40, seed: int = 0) -> nn.GraphData:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, size=(n, n_genes)).astype(np.float32)
    totals = counts.sum(axis=1)
    return nn.GraphData(
        nn.standardised_log(counts),
        counts,
        (totals / np.median(totals)).astype(np.float32),
        {"spatial": uneven_graph(n, seed), "feature": uneven_graph(n, seed + 1)},
        rng.normal(size=(n, 16)).astype(np.float32),
    )


def test_graph_product_matches_the_cpu_and_repeats_bit_for_bit():
    adjacency = nn.gcn_adjacency(uneven_graph(3000, 0))
    on_device = adjacency.to(DEVICE)
    x = torch.randn(3000, 64)
    weights = torch.randn(3000, 64)
    results = []
    for _ in range(2):
        xd = x.to(DEVICE, copy=True).requires_grad_(True)
        out = nn.propagate(on_device, xd)
        (out * weights.to(DEVICE)).sum().backward()
        results.append((out.detach().cpu(), xd.grad.cpu()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    xc = x.clone().requires_grad_(True)  # x itself never requires a gradient
    expected = torch.sparse.mm(adjacency, xc)
    (expected * weights).sum().backward()
    torch.testing.assert_close(results[0][0], expected.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[0][1], xc.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("encoder", "minibatch"), [("dual", False), ("dual", True), ("contrastive", False)])
def test_a_seed_gives_the_same_embedding_twice(encoder, minibatch):
    data = tissue()
    cls = nn.get_encoder(encoder)
    device = torch.device(DEVICE)
    embeddings = []
    for _ in range(2):
        torch.manual_seed(3)
        model = cls(data.x.shape[1], data.counts.shape[1], data.semantic.shape[1]).to(device)
        if minibatch:
            sampler = nn.NeighbourSampler(data, cls.graphs, device, batch_size=128, rng=3)
        else:
            sampler = nn.FullBatchSampler(data, cls.graphs, device, rng=3)
        nn.train(model, sampler, n_steps=20, average_from=0.5, progress=False)
        embeddings.append(nn.embed(model, sampler, chunk_size=100).cpu())
    assert torch.isfinite(embeddings[0]).all()
    assert torch.equal(embeddings[0], embeddings[1])


def test_embedding_in_chunks_is_the_training_forward():
    adjacency = nn.gcn_adjacency(uneven_graph(500, 2)).to(DEVICE)
    encoder = nn.GCNEncoder(12, 32, 8).to(DEVICE)
    torch.nn.init.normal_(encoder.conv1.bias)
    x = torch.randn(500, 12, device=DEVICE)
    trained = encoder(x, adjacency)
    with torch.no_grad():
        embedded = encoder(x, adjacency)
    torch.testing.assert_close(embedded, trained.detach())
