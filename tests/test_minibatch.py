"""Mini-batch training: neighbour sampling, exactness of the batch forward and of layer-wise inference, tl.semst."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import adjusted_rand_score

import semst_sc as sst
from semst_sc.nn import (
    GraphData,
    SeedForward,
    SemSTModel,
    TrainingData,
    _minibatch,
    embed,
    embed_layerwise,
    gcn_adjacency,
    sample_batch,
    train_minibatch,
)
from semst_sc.nn._minibatch import sample_neighbours

torch.set_num_threads(1)


def _graph(n, k, seed):
    """A random symmetric kNN-like graph without self loops."""
    gen = np.random.default_rng(seed)
    rows, cols = np.repeat(np.arange(n), k), gen.integers(0, n, n * k)
    a = sp.csr_matrix((np.ones(n * k, np.float32), (rows, cols)), shape=(n, n))
    a = ((a + a.T) > 0).astype(np.float32).tolil()
    a.setdiag(0)
    return a.tocsr()


def _toy(n=80, semantic=True, seed=0):
    gen = np.random.default_rng(seed)
    counts = gen.poisson(2.0, size=(n, 12)).astype(np.float32)
    return GraphData(
        x=counts / 2,
        counts=counts,
        size_factors=np.ones(n, np.float32),
        spatial=_graph(n, 4, seed + 1),
        feature=_graph(n, 3, seed + 2),
        semantic=gen.standard_normal((n, 7)).astype(np.float32) if semantic else None,
    )


def _model(semantic=True):
    torch.manual_seed(0)
    return SemSTModel(12, 12, 7 if semantic else None, hidden_dim=16, latent_dim=5)


def test_sample_neighbours_draws_distinct_true_neighbours_up_to_fanout():
    graph = _graph(50, 6, 0)
    nodes = np.array([3, 7, 11])
    gen = np.random.default_rng(0)
    owner, drawn = sample_neighbours(graph, nodes, 2, gen)
    for node in nodes:
        mine = drawn[owner == node]
        assert len(mine) == min(2, graph[node].nnz) and len(set(mine)) == len(mine)
        assert set(mine) <= set(graph[node].indices)
    owner, drawn = sample_neighbours(graph, nodes, None, gen)
    assert len(drawn) == sum(graph[node].nnz for node in nodes)


def test_sample_batch_builds_seed_first_two_hop_subgraphs():
    data = _toy(200)
    batch = sample_batch(data, np.array([5, 40, 90]), (3, 2), np.random.default_rng(1))
    assert np.array_equal(batch.seeds, np.unique(batch.seeds)) and {5, 40, 90} <= set(batch.seeds)
    n = len(batch.seeds)
    for nodes, adjacency, graph in (
        (batch.spatial_nodes, batch.spatial, data.spatial),
        (batch.feature_nodes, batch.feature, data.feature),
    ):
        assert np.array_equal(nodes[:n], batch.seeds) and len(set(nodes)) == len(nodes)
        degree = np.diff(adjacency.indptr)
        assert (degree[:n] <= 3).all() and (degree[n:] <= 2).all()
        rows, cols = adjacency.nonzero()  # every sampled edge is an edge of the graph
        assert np.asarray(graph[nodes[rows], nodes[cols]]).all()
    pairs = batch.positive.T
    assert len(pairs) and np.asarray(data.spatial[batch.seeds[pairs[:, 0]], batch.seeds[pairs[:, 1]]]).all()
    assert batch.negative.shape == batch.positive.shape and batch.negative.max() < n


@pytest.mark.parametrize("semantic", [True, False])
def test_seed_forward_on_complete_neighbourhoods_equals_the_full_forward(semantic):
    data, model = _toy(semantic=semantic), _model(semantic).eval()
    batch = sample_batch(data, np.array([2, 30, 61]), (None, None), np.random.default_rng(0))
    x = torch.from_numpy(data.x)
    sem = None if data.semantic is None else torch.from_numpy(data.semantic)
    with torch.no_grad():
        full = model(x, gcn_adjacency(data.spatial), gcn_adjacency(data.feature), sem, torch.from_numpy(batch.seeds))
        out = SeedForward(model)(
            x[batch.spatial_nodes],
            gcn_adjacency(batch.spatial),
            x[batch.feature_nodes],
            gcn_adjacency(batch.feature),
            None if sem is None else sem[batch.seeds],
            len(batch.seeds),
        )
    for key in ("h_spatial", "h_feature", "z"):
        torch.testing.assert_close(out[key], full[key][batch.seeds], rtol=1e-5, atol=1e-5)
    for key in ("mu", "theta", "pi"):
        torch.testing.assert_close(out[key], full[key], rtol=1e-5, atol=1e-5)


def test_embed_layerwise_equals_the_full_graph_embedding():
    data, model = _toy(), _model()
    full = TrainingData(
        torch.from_numpy(data.x),
        torch.from_numpy(data.counts),
        torch.from_numpy(data.size_factors),
        gcn_adjacency(data.spatial),
        gcn_adjacency(data.feature),
        torch.zeros(2, 0, dtype=torch.long),
        torch.from_numpy(data.semantic),
    )
    sparse_x = replace(data, x=sp.csr_matrix(data.x))
    expected = embed(model, full)
    torch.testing.assert_close(embed_layerwise(model, data, chunk_size=17), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(embed_layerwise(model, sparse_x), expected, rtol=1e-5, atol=1e-5)


def _train(seed, data=None, n_steps=40):
    model = _model()
    history = train_minibatch(
        model, _toy() if data is None else data, n_steps=n_steps, batch_size=32, lr=1e-2, rng=seed, progress=False
    )
    return model, history


def test_train_minibatch_lowers_the_loss_and_is_deterministic():
    _, h1 = _train(0)
    _, h2 = _train(0)
    _, h3 = _train(1)
    assert set(h1) == {"total", "zinb", "spatial", "dicr"} and len(h1["total"]) == 40
    assert np.mean(h1["total"][-5:]) < 0.8 * np.mean(h1["total"][:5])
    assert h1 == h2 and h1["total"] != h3["total"]


def test_train_minibatch_checks_its_inputs():
    with pytest.raises(ValueError, match="n_steps"):
        train_minibatch(_model(), _toy(), n_steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_minibatch(_model(), _toy(), n_steps=1, batch_size=1)
    data = _toy()
    with pytest.raises(ValueError, match="one row per spot"):
        GraphData(data.x, data.counts[:5], data.size_factors, data.spatial, data.feature)


# ---------------------------------------------------------------- tl.semst


@pytest.fixture(scope="module")
def _slide():
    """The default simulated tissue with both graphs and stand-in semantic vectors (no language model)."""
    adata = sst.datasets.simulate_tissue()
    sst.pp.prepare(adata)
    sst.pp.spatial_graph(adata)
    sst.pp.feature_graph(adata)
    adata.obsm["X_semantic"] = np.random.default_rng(0).standard_normal((adata.n_obs, 16)).astype(np.float32)
    return adata


def _ari(adata):
    sst.tl.cluster(adata, 7, rng=0)
    return adjusted_rand_score(adata.obs["domain"], adata.obs["semst_domain"])


def test_minibatch_accuracy_is_comparable_to_full_batch(_slide):
    full, mini = _slide.copy(), _slide.copy()
    sst.tl.semst(full, n_epochs=60, minibatch=False, progress=False)
    sst.tl.semst(mini, n_epochs=60, minibatch=True, minibatch_size=512, progress=False)
    params = mini.uns["semst"]["params"]
    assert params["minibatch"] is True and params["minibatch_size"] == 512 and params["world_size"] == 1
    assert full.uns["semst"]["params"]["minibatch"] is False
    assert mini.obsm["X_semst"].shape == (mini.n_obs, 128) and mini.obsm["X_semst"].dtype == np.float32
    assert len(mini.uns["semst"]["loss_history"]["total"]) == 60
    ari_full, ari_mini = _ari(full), _ari(mini)
    assert ari_full > 0.6 and ari_mini > 0.6 and abs(ari_full - ari_mini) < 0.1, (ari_full, ari_mini)


def test_minibatch_same_rng_same_embedding(_slide):
    runs = [sst.tl.semst(_slide, n_epochs=4, minibatch=True, rng=rng, progress=False, copy=True) for rng in (3, 3, 4)]
    assert np.array_equal(runs[0].obsm["X_semst"], runs[1].obsm["X_semst"])
    assert not np.array_equal(runs[0].obsm["X_semst"], runs[2].obsm["X_semst"])
    assert "X_semst" not in _slide.obsm  # copy=True leaves the input alone


def test_minibatch_auto_follows_the_size_threshold(_slide, monkeypatch):
    small = sst.tl.semst(_slide, n_epochs=2, semantic_key=None, progress=False, copy=True)
    assert small.uns["semst"]["params"]["minibatch"] is False
    monkeypatch.setattr(_minibatch, "AUTO_MINIBATCH_SPOTS", _slide.n_obs)
    large = sst.tl.semst(_slide, n_epochs=2, semantic_key=None, progress=False, copy=True)
    assert large.uns["semst"]["params"]["minibatch"] is True
    contrastive = sst.tl.semst(_slide, n_epochs=2, encoder="contrastive", progress=False, copy=True)
    assert contrastive.uns["semst"]["params"]["minibatch"] is False


def test_minibatch_rejects_bad_arguments(_slide, monkeypatch):
    with pytest.raises(ValueError, match="minibatch must be"):
        sst.tl.semst(_slide, minibatch="yes", copy=True)
    with pytest.raises(ValueError, match="encoder='dual'"):
        sst.tl.semst(_slide, minibatch=True, encoder="contrastive", copy=True)
    with pytest.raises(ValueError, match="mini-batches"):
        sst.tl.semst(_slide, minibatch=False, distributed=True, copy=True)
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        sst.tl.semst(_slide, n_epochs=1, distributed=True, progress=False, copy=True)
