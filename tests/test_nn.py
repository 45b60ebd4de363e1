import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from semst_sc.nn import (
    ENCODERS,
    FSM,
    ContrastiveGCN,
    FullBatchSampler,
    GCNEncoder,
    GraphData,
    SemSTModel,
    SpotEncoder,
    dicr_loss,
    embed,
    gcn_adjacency,
    get_encoder,
    pair_similarity_weights,
    sample_batch,
    spatial_pair_loss,
    train,
    zinb_nll,
)
from semst_sc.nn._gcn import _convolve_in_chunks, _gather_sum, convolve, propagate

CPU = torch.device("cpu")


def test_fsm_starts_as_identity_and_modulates():
    torch.manual_seed(0)
    fsm = FSM(semantic_dim=16, feature_dim=6)
    z, e = torch.randn(5, 6), torch.randn(5, 16)
    torch.testing.assert_close(fsm(z, e), z)
    torch.nn.init.normal_(fsm.modulation[-1].weight)
    alpha, beta = fsm.modulation(fsm.head(e)).chunk(2, dim=-1)
    torch.testing.assert_close(fsm(z, e), (1 + alpha) * z + beta)
    assert not torch.allclose(fsm(z, e), z)


def test_fsm_is_trainable_and_checks_shapes():
    fsm = FSM(semantic_dim=4, feature_dim=3)
    z, e = torch.randn(7, 3), torch.randn(7, 4)
    fsm(z, e).square().sum().backward()
    assert fsm.modulation[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="rows"):
        fsm(z, torch.randn(6, 4))


def test_gcn_adjacency_is_row_normalised_with_self_loops():
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=np.float32))
    dense = gcn_adjacency(a).to_dense().numpy()
    expected = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]]) / np.array([[3], [2], [2]])
    np.testing.assert_allclose(dense, expected, rtol=1e-6)


def test_gcn_encoder_averages_over_neighbours():
    a = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=np.float32))
    enc = GCNEncoder(3, 4, 2)
    x = torch.randn(2, 3)
    out = enc(x, gcn_adjacency(a))
    # both spots see the same neighbourhood mean, so their outputs match
    torch.testing.assert_close(out[0], out[1])
    assert out.shape == (2, 2)


def test_gcn_encoder_without_autograd_gives_the_trained_forward():
    a = sp.random(300, 300, density=0.03, format="csr", random_state=0)
    adjacency = gcn_adjacency(a + a.T)
    enc = GCNEncoder(12, 32, 8)
    torch.nn.init.normal_(enc.conv1.bias)  # non-zero biases: the in-place additions are exercised
    torch.nn.init.normal_(enc.conv2.bias)
    x = torch.randn(300, 12)
    trained = enc(x, adjacency)
    with torch.no_grad():
        embedded = enc(x, adjacency)
    torch.testing.assert_close(embedded, trained.detach())
    assert trained.requires_grad and not embedded.requires_grad
    with torch.no_grad():  # row chunks of the adjacency, the last one shorter
        torch.testing.assert_close(_convolve_in_chunks(enc.conv1, x, adjacency, chunk_size=64), enc.conv1(x, adjacency))


def test_gpu_graph_product_gives_the_sparse_product_and_its_gradient():
    # on a GPU, propagate sums by gather and index_put (cuSPARSE's product varies run to run): here, on the CPU,
    # that path must give torch's sparse product, forward and backward; a row without edges stays zero
    a = sp.random(200, 200, density=0.03, random_state=1, format="csr")
    a[5] = 0
    adjacency = torch.sparse_csr_tensor(
        torch.from_numpy(a.indptr.astype(np.int64)),
        torch.from_numpy(a.indices.astype(np.int64)),
        torch.from_numpy(a.data.astype(np.float32)),
        size=a.shape,
    )
    x = torch.randn(200, 7, requires_grad=True)
    weights = torch.randn(200, 7)
    gathered = _gather_sum(adjacency, x)
    torch.testing.assert_close(gathered, torch.sparse.mm(adjacency, x))
    assert torch.all(gathered[5] == 0)
    (grad_gathered,) = torch.autograd.grad((gathered * weights).sum(), x)
    (grad_sparse,) = torch.autograd.grad((torch.sparse.mm(adjacency, x) * weights).sum(), x)
    torch.testing.assert_close(grad_gathered, grad_sparse)
    with pytest.raises(TypeError, match="sparse CSR adjacency"):  # on every device, not only where the GPU path runs
        propagate(adjacency.to_sparse_coo(), x)
    for wrong in (x.double(), x[:, 0]):  # refused alike on every device (the GPU path took float64, 1-D failed late)
        with pytest.raises(TypeError, match="2-D tensor of the adjacency's dtype torch.float32"):
            propagate(adjacency, wrong)


def test_convolve_is_torch_geometrics_gcnconv_bit_for_bit_on_cpu():
    from torch_geometric.nn import GCNConv

    a = sp.random(150, 150, density=0.05, random_state=2, format="csr")
    adjacency = gcn_adjacency(a + a.T)
    conv = GCNConv(9, 5, normalize=False, add_self_loops=False)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(150, 9)
    assert torch.equal(convolve(conv, x, adjacency), conv(x, adjacency))


def test_nn_imports_with_torch_alone(tmp_path):
    # semst_sc.nn is what a GPU machine without the AnnData stack runs (benchmarks/gpu_training.py train)
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('anndata', 'scanpy', 'squidpy'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from semst_sc import nn\n"
        "nn.get_encoder('dual'), nn.get_encoder('contrastive')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_zinb_nll_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.poisson(1.0, size=(20, 5)).astype(np.float32)
    mu, theta, pi = rng.uniform(0.2, 3, x.shape), rng.uniform(0.5, 5, x.shape), rng.uniform(0.05, 0.5, x.shape)
    nb = stats.nbinom.pmf(x, theta, theta / (theta + mu))
    like = np.where(x == 0, pi + (1 - pi) * nb, (1 - pi) * nb)
    expected = np.mean(-np.log(like) + 0.05 * pi**2)
    got = zinb_nll(*(torch.tensor(v, dtype=torch.float32) for v in (x, mu, theta, pi)))
    assert float(got) == pytest.approx(expected, rel=1e-4)


def test_zinb_nll_gradients_are_those_of_the_likelihood(monkeypatch):
    from semst_sc.nn import _losses

    monkeypatch.setattr(_losses, "_CHUNK", 37)  # several chunks, one ending mid-row
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.poisson(0.7, size=(9, 11)), dtype=torch.float64)
    params = [
        torch.tensor(rng.uniform(lo, hi, x.shape), requires_grad=True) for lo, hi in ((0.1, 4), (0.3, 6), (0.02, 0.9))
    ]
    assert torch.autograd.gradcheck(lambda mu, theta, pi: zinb_nll(x, mu, theta, pi), params)
    mu, theta, pi = (p.detach().numpy() for p in params)  # and the value is the scipy likelihood
    nb = stats.nbinom.pmf(x.numpy(), theta, theta / (theta + mu))
    like = np.where(x.numpy() == 0, pi + (1 - pi) * nb, (1 - pi) * nb)
    assert float(zinb_nll(x, *params).detach()) == pytest.approx(np.mean(-np.log(like) + 0.05 * pi**2), rel=1e-9)


def test_zinb_nll_in_float32_keeps_its_digits_near_the_theta_cap():
    """At theta 1e4 (the decoder's cap) float32 lost 1e-3 of the loss and the theta gradient entirely (168 %)."""
    rng = np.random.default_rng(3)
    mu = rng.uniform(0.01, 3, 20_000)
    x = rng.poisson(mu).astype(float)
    theta, pi = np.full_like(mu, 1e4), np.full_like(mu, 0.1)
    result = {}
    for dtype in (torch.float32, torch.float64):
        params = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (mu, theta, pi)]
        loss = zinb_nll(torch.tensor(x, dtype=dtype), *params)
        loss.backward()
        result[dtype] = float(loss), *(p.grad.double() for p in params)
    single, double = result[torch.float32], result[torch.float64]
    assert single[0] == pytest.approx(double[0], rel=1e-6)
    for got, expected in zip(single[1:], double[1:], strict=True):
        assert float((got - expected).abs().max()) <= 1e-3 * float(expected.abs().max())


def test_zinb_nll_takes_parameters_of_any_memory_layout():
    """A transposed mu failed in the gradient buffers ('view size is not compatible with input tensor's size')."""
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.poisson(2.0, size=(5, 3)), dtype=torch.float64)
    values = [rng.uniform(lo, hi, (3, 5)) for lo, hi in ((0.1, 4), (0.3, 6), (0.02, 0.9))]
    transposed = [torch.tensor(v, requires_grad=True) for v in values]
    zinb_nll(x, *(t.T for t in transposed)).backward()
    contiguous = [torch.tensor(v.T.copy(), requires_grad=True) for v in values]
    zinb_nll(x, *contiguous).backward()
    for t, c in zip(transposed, contiguous, strict=True):
        torch.testing.assert_close(t.grad.T, c.grad)


def test_dicr_loss_is_zero_for_decorrelated_identical_views():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(200, 8))
    q, _ = np.linalg.qr(m - m.mean(0))
    h = torch.tensor(q, dtype=torch.float32)
    assert float(dicr_loss(h, h)) == pytest.approx(0, abs=1e-5)
    assert float(dicr_loss(h, -h)) == pytest.approx(4, rel=1e-4)


def test_spatial_pair_loss_rewards_similar_neighbours():
    pos = torch.tensor([[0, 1], [1, 0]])
    neg = torch.tensor([[0, 2], [2, 0]])
    aligned = torch.tensor([[1.0, 0], [1, 0], [-1, 0]])
    opposed = torch.tensor([[1.0, 0], [-1, 0], [1, 0]])
    assert spatial_pair_loss(aligned, pos, neg) < spatial_pair_loss(opposed, pos, neg)


def test_spatial_pair_loss_weights_each_pairs_pull():
    pos, neg = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0], [2]])
    z = torch.tensor([[1.0, 0], [-1, 0], [0, 1]])
    push = -torch.log(1 - torch.sigmoid(torch.tensor(0.0)))  # the random pair (0, 2) is orthogonal
    pulls = -torch.log(torch.sigmoid(torch.tensor([-1.0, 0.0])))  # cosines -1 and 0
    for weights in ([1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.5, 0.2]):
        expected = (torch.tensor(weights) * pulls).mean() + push
        assert float(spatial_pair_loss(z, pos, neg, torch.tensor(weights))) == pytest.approx(float(expected), rel=1e-5)
    assert float(spatial_pair_loss(z, pos, neg)) == pytest.approx(float(pulls.mean() + push), rel=1e-5)


def test_pair_similarity_weights_pull_pairs_within_a_domain_not_across():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 40) * 6  # four domains, each as far from the others
    domain = np.repeat(np.arange(4), 100)
    x = (centres[domain] + rng.normal(size=(400, 40))).astype(np.float32)
    rows = np.arange(0, 400, 2)
    within, across = rows + 1, (rows + 100) % 400  # the next spot of its domain; a spot of the next domain
    graph = sp.csr_matrix((np.ones(400), (np.r_[rows, rows], np.r_[within, across])), shape=(400, 400))
    for weights in (
        pair_similarity_weights(x, graph, n_components=10),
        pair_similarity_weights(x, graph, n_components=10, n_fit=200, rng=1),  # components fitted on half the spots
    ):
        assert weights.shape == graph.shape and (abs(weights) > 0).multiply(graph).nnz == (abs(weights) > 0).nnz
        pulled, cut = np.asarray(weights[rows, within]).ravel(), np.asarray(weights[rows, across]).ravel()
        # a pair across a border is as alike as the 3/4 of random pairs that are across too: F uniform in [0, 3/4],
        # 2 F - 1 below 0 (no pull) for 2/3 of them, 1/12 on average; within a domain, more alike than those and as
        # alike as the 1/4 within: F uniform in [3/4, 1], 2 F - 1 in [0.5, 1], 3/4 on average
        assert (cut == 0).mean() > 0.5 and cut.mean() < 0.15
        assert (pulled > 0.45).mean() > 0.9 and 0.68 < pulled.mean() < 0.82


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    n, g = 60, 12
    counts = rng.poisson(2.0, size=(n, g)).astype(np.float32)
    adj = sp.random(n, n, density=0.1, random_state=seed, format="csr")
    adj = ((adj + adj.T) > 0).astype(np.float32)
    return counts, adj


def _graph_data(semantic=None):
    counts, adj = _toy()
    return GraphData(counts, counts, np.ones(60, np.float32), {"spatial": adj, "feature": adj}, semantic)


def test_model_steps_shapes_with_and_without_fsm():
    semantic = np.random.default_rng(0).standard_normal((60, 7)).astype(np.float32)
    batch = FullBatchSampler(_graph_data(semantic), ("spatial", "feature"), CPU, recon_batch_size=10).sample()
    model = SemSTModel(12, 12, 7, latent_dim=5)
    views = model.encode(batch)
    assert views["spatial"].shape == views["feature"].shape == (60, 5)
    z = model.fuse(views, batch.seed_semantic())
    assert z.shape == (60, 5) and [t.shape for t in model.decode(z[:10])] == [(10, 12)] * 3
    assert set(model(batch)) == {"total", "zinb", "spatial", "dicr"}
    plain = SemSTModel(12, 12, None, latent_dim=5)
    assert plain.fsm is None and plain.embed(batch).shape == (60, 5)
    without = FullBatchSampler(_graph_data(), ("spatial", "feature"), CPU).sample()
    with pytest.raises(ValueError, match="semantic"):
        model(without)


def test_decoder_covariates_change_the_reconstruction_not_the_embedding():
    data = _graph_data()
    sections = np.zeros((60, 2), np.float32)
    sections[:30, 0] = sections[30:, 1] = 1
    data.covariates = sections
    batch = FullBatchSampler(data, ("spatial", "feature"), CPU, recon_batch_size=10).sample()
    assert batch.covariates.shape == (60, 2)
    torch.manual_seed(0)
    model = SemSTModel(12, 12, None, latent_dim=5, n_covariates=2).eval()
    z = model.embed(batch)
    swapped = model.decode(z, batch.covariates.flip(1))[0]
    assert not torch.allclose(model.decode(z, batch.covariates)[0], swapped)
    assert set(model(batch)) == {"total", "zinb", "spatial", "dicr"}
    with pytest.raises(ValueError, match="covariate"):
        model.decode(z)
    with pytest.raises(ValueError, match="covariate"):
        SemSTModel(12, 12, None, latent_dim=5).decode(z, batch.covariates)
    host = sample_batch(data, np.array([0, 40]), ("spatial",), (3, 3), np.random.default_rng(0))
    assert torch.equal(host.to_device(CPU).covariates, torch.from_numpy(sections[host.seeds]))


def _train(
    seed, model_factory=lambda: SemSTModel(12, 12, None, hidden_dim=16, latent_dim=4), semantic=None, **train_kwargs
):
    torch.manual_seed(seed)
    model = model_factory()
    sampler = FullBatchSampler(
        _graph_data(semantic), model.graphs, CPU, recon_batch_size=32, pair_batch_size=100, rng=seed
    )
    return model, train(model, sampler, n_steps=60, lr=1e-2, progress=False, **train_kwargs), sampler


def test_training_lowers_the_loss_and_is_deterministic():
    _, h1, _ = _train(0)
    _, h2, _ = _train(0)
    _, h3, _ = _train(1)
    assert np.mean(h1["total"][-5:]) < 0.8 * np.mean(h1["total"][:5])
    assert h1["total"] == h2["total"]
    assert h1["total"] != h3["total"]
    assert set(h1) == {"total", "zinb", "spatial", "dicr"}


def test_weight_averaging_leaves_the_mean_of_the_averaged_steps_parameters():
    seen = []  # the parameters each step starts from: those the step before left

    class Probe(SemSTModel):
        def forward(self, batch):
            seen.append([p.detach().clone() for p in self.parameters()])
            return super().forward(batch)

    last, plain_history, _ = _train(0)
    averaged, history, _ = _train(0, lambda: Probe(12, 12, None, hidden_dim=16, latent_dim=4), average_from=0.5)
    assert history == plain_history  # averaging does not change the optimisation
    after_each_step = seen[1:] + [list(last.parameters())]  # steps 0..59
    for i, own in enumerate(averaged.parameters()):
        expected = torch.stack([step[i] for step in after_each_step[30:]]).mean(dim=0)  # steps 30..59
        assert torch.allclose(own, expected, atol=1e-6)
    assert not all(torch.allclose(a, b) for a, b in zip(averaged.parameters(), last.parameters(), strict=True))
    with pytest.raises(ValueError, match="average_from"):
        _train(0, average_from=1.0)


def test_training_flushes_denormals_and_restores_the_default():
    """Denormal floats make CPU arithmetic many times slower: training flushes them, and leaves torch as it found it."""
    tiny = torch.tensor([1e-39])  # a float32 denormal
    seen = []

    class Probe(SemSTModel):
        def forward(self, batch):
            seen.append(float(tiny * 1.0))
            return super().forward(batch)

    model, _, sampler = _train(0, lambda: Probe(12, 12, None, hidden_dim=16, latent_dim=4))
    assert seen and all(value == 0.0 for value in seen)  # flushed in every step
    assert float(tiny * 1.0) > 0  # torch's default again after training
    embed(model, sampler)
    assert float(tiny * 1.0) > 0


def test_full_batch_sampler_draws_within_bounds():
    data = _graph_data()
    sampler = FullBatchSampler(data, ("spatial",), CPU, recon_batch_size=32, pair_batch_size=50)
    batch = sampler.sample()
    assert batch.recon_rows.shape == (32,) and len(set(batch.recon_rows.tolist())) == 32
    assert batch.pairs.shape == batch.negative.shape == (2, 50)
    edges = set(map(tuple, sampler.base.pairs.T.tolist()))
    assert set(map(tuple, batch.pairs.T.tolist())) <= edges and len(edges) == data.graphs["spatial"].nnz
    assert sorted(batch.permutation.tolist()) == list(range(60))
    everything = FullBatchSampler(data, ("spatial",), CPU, recon_batch_size=None, pair_batch_size=None).sample()
    assert everything.recon_rows is None and everything.pairs.shape == (2, len(edges))
    assert batch.pair_weights is None and everything.pair_weights is None


def test_samplers_carry_each_drawn_pairs_weight():
    counts, adj = _toy()
    rows, cols = adj.nonzero()
    weights = sp.csr_matrix(((rows * 100 + cols).astype(np.float32), (rows, cols)), shape=adj.shape)  # w = 100 i + j
    data = GraphData(counts, counts, np.ones(60, np.float32), {"spatial": adj}, pair_weights=weights)
    batch = FullBatchSampler(data, ("spatial",), CPU, pair_batch_size=50).sample()
    torch.testing.assert_close(batch.pair_weights, (batch.pairs[0] * 100 + batch.pairs[1]).float())
    mini = sample_batch(data, np.arange(0, 60, 7), ("spatial",), (3, 2), np.random.default_rng(0))
    on_device = mini.to_device(CPU)
    expected = mini.seeds[mini.pairs[0]] * 100 + mini.seeds[mini.pairs[1]]
    assert len(expected) and np.array_equal(on_device.pair_weights.numpy(), expected.astype(np.float32))
    with pytest.raises(ValueError, match="one row per spot"):
        GraphData(counts, counts, np.ones(60, np.float32), {"spatial": adj}, pair_weights=weights[:50])


def test_contrastive_gcn_trains_with_and_without_fsm():
    semantic = np.random.default_rng(3).standard_normal((60, 7)).astype(np.float32)
    model, history, sampler = _train(0, lambda: ContrastiveGCN(12, 12, 7, latent_dim=6), semantic)
    assert set(history) == {"total", "recon", "contrast"}
    assert np.mean(history["total"][-5:]) < 0.8 * np.mean(history["total"][:5])
    z = embed(model, sampler)
    assert z.shape == (60, 12) and torch.isfinite(z).all()  # the reconstruction
    _, again, _ = _train(0, lambda: ContrastiveGCN(12, 12, 7, latent_dim=6), semantic)
    assert again["total"] == history["total"]
    plain = ContrastiveGCN(12, None, None, latent_dim=6)
    no_semantic = FullBatchSampler(_graph_data(), ("spatial",), CPU)
    assert plain.fsm is None and embed(plain, no_semantic).shape == (60, 12)
    with pytest.raises(ValueError, match="semantic"):
        embed(ContrastiveGCN(12, 12, 7), no_semantic)
    with pytest.raises(ValueError, match="reconstructs its input"):
        ContrastiveGCN(12, 5)


def test_untrained_fsm_leaves_the_contrastive_embedding_unchanged():
    torch.manual_seed(0)
    with_fsm = ContrastiveGCN(12, 12, 7, latent_dim=6)
    torch.manual_seed(0)
    without = ContrastiveGCN(12, 12, None, latent_dim=6)
    without.encoder.load_state_dict(with_fsm.encoder.state_dict())
    without.decoder.load_state_dict(with_fsm.decoder.state_dict())
    sampler = FullBatchSampler(
        _graph_data(np.random.default_rng(0).standard_normal((60, 7)).astype(np.float32)), ("spatial",), CPU
    )
    assert torch.allclose(embed(with_fsm, sampler), embed(without, sampler))


def test_registry_holds_encoder_classes_with_their_defaults():
    assert ENCODERS["dual"] is SemSTModel and ENCODERS["contrastive"] is ContrastiveGCN
    for name, cls in ENCODERS.items():
        assert issubclass(cls, SpotEncoder) and get_encoder(name) is cls
        assert cls.input_transform in ("scaled", "log_standardised") and cls.n_epochs > 0 and "spatial" in cls.graphs
    with pytest.raises(ValueError, match="encoder must be one of"):
        get_encoder("vae")
