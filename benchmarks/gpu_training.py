"""Training time of the encoders on a GPU against this CPU, on DLPFC slices, with semst_sc's own nn layer.

    python benchmarks/gpu_training.py prepare --slice 151673 --out .gpu          # here: the prepared tensors (npz)
    python benchmarks/gpu_training.py prepare --slice 151673 151674 --out .gpu   # two sections, fitted jointly
    python benchmarks/gpu_training.py train --data .gpu/dlpfc151673.npz --device cuda --out DIR   # on the GPU
    python benchmarks/gpu_training.py train --data .gpu/dlpfc151673.npz --device cpu --out DIR2   # the same here
    python benchmarks/gpu_training.py score --runs DIR DIR2 --out benchmarks/results/gpu_training

``prepare`` runs the default preprocessing, graphs and gene semantics (offline model) and stores what
:func:`semst_sc.tl.semst` trains on, so the GPU machine needs torch and semst_sc but no AnnData stack, data set or
language model; several slices are joined as the joint pipeline joins them (``concat_sections``, every step with
``library_key``). The scaled input travels as factors of the counts, checked to rebuild it bit for bit (one slice:
7.5 MB instead of 13 MB; what a device call carries, the repository included, is limited to 64 MiB; two slices, 16.6
MB, do not fit beside the repository as it is). ``train`` trains each configuration (SemST's dual encoder full
batch, the contrastive encoder full batch, the dual encoder on neighbour-sampled mini-batches) for seeds 0-4 with
the defaults of ``tl.semst``, after one short warm-up run, and writes ``timings.csv`` (wall seconds of training and
of embedding, peak device memory, and whether a second run of the first seed gives the same embedding bit for bit)
and ``embeddings.npz`` (each embedding's first 20 principal components, the first step of ``tl.cluster``, so that
little travels back). ``score`` clusters them (``tl.cluster``, K = 7, one clustering over all sections) and writes
``runs.csv`` and ``summary.md`` with the ARI of each section beside the timings. ``determinism`` finds where two
identical training steps of the dual encoder part on a device.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: tl.semst's default ``train_kwargs['average_from']``: the weights averaged over the second half of training
AVERAGE_FROM = 0.5

CONFIGS = {  # name: encoder, mini-batches
    "dual": ("dual", False),
    "contrastive": ("contrastive", False),
    "dual_minibatch": ("dual", True),
}


def prepare(args) -> None:
    import semst_sc as sst

    sst.settings.progress = False
    if len(args.slice) == 1:
        adata, library_key = sst.datasets.dlpfc(args.slice[0]), None
    else:
        adata, library_key = sst.concat_sections({s: sst.datasets.dlpfc(s) for s in args.slice}), "library_id"
    sst.pp.prepare(adata, library_key=library_key)
    sst.pp.spatial_graph(adata, library_key=library_key)
    sst.pp.feature_graph(adata, library_key=library_key)
    sst.pp.gene_semantics(adata)
    genes = adata.var["semst_modelled"].to_numpy()
    scaled = sp.csr_matrix(adata.layers["semst_scaled"][:, genes], dtype=np.float32)
    arrays = {
        "counts": sp.csr_matrix(adata.X[:, genes], dtype=np.float32),
        "spatial": sp.csr_matrix(adata.obsp["spatial_connectivities"]),
        "feature": sp.csr_matrix(adata.obsp["semst_feature_connectivities"]),
    }
    out = {"semantic": adata.obsm["X_semantic"].astype(np.float32), "obs_names": adata.obs_names.to_numpy(str)}
    scaled.sort_indices()  # as the counts, for the comparison of the rebuilt matrix (joins leave them unsorted)
    arrays["counts"].sort_indices()
    sections = np.zeros(adata.n_obs, int) if library_key is None else pd.factorize(adata.obs[library_key])[0]
    factors = _scaling_factors(arrays["counts"], scaled, sections)
    if factors is None:  # prepare scales otherwise now: the scaled values themselves travel
        print("the scaled matrix is not rebuilt from the counts bit for bit: stored as it is", flush=True)
        arrays["scaled"] = scaled
    else:
        out.update(factors)
    for name, matrix in arrays.items():
        out.update({f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr})
        out[f"{name}_shape"] = np.array(matrix.shape)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / f"{_name(args.slice)}.npz", **out)


def _name(slices: list[str]) -> str:
    """The data name of DLPFC ``slices``: ``dlpfc151673``, or ``dlpfc151673+151674`` for a joint fit."""
    return "dlpfc" + "+".join(slices)


def _scaling_factors(counts: sp.csr_matrix, scaled: sp.csr_matrix, sections: np.ndarray) -> dict | None:
    """Spot and gene factors that rebuild ``scaled`` from ``counts`` bit for bit, or ``None`` where they do not.

    ``pp.prepare`` scales each section's spots to 1e4 counts, divides each gene by its standard deviation there
    (no centring) and clips at 10. Sending these factors instead of the scaled values keeps the prepared file small
    enough to travel with the repository to the GPU machine (64 MiB in all); the rebuilt matrix is compared with
    ``scaled`` here, so a change of ``prepare`` makes the scaled values travel instead, never wrong ones.
    """
    spot_factor = np.zeros(counts.shape[0], np.float32)
    gene_factor = np.zeros((sections.max() + 1, counts.shape[1]), np.float32)
    for section in range(sections.max() + 1):
        rows = np.flatnonzero(sections == section)
        sub = counts[rows].astype(np.float32)
        totals = np.asarray(sub.sum(axis=1)).ravel()
        factor = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0).astype(np.float32)
        sub.data *= np.repeat(factor, np.diff(sub.indptr))
        mean = np.asarray(sub.mean(axis=0)).ravel()
        sq = np.asarray(sub.multiply(sub).mean(axis=0)).ravel()
        std = np.sqrt(np.maximum(sq - mean**2, 0) * sub.shape[0] / max(sub.shape[0] - 1, 1))
        spot_factor[rows] = factor
        gene_factor[section] = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    factors = {"spot_factor": spot_factor, "gene_factor": gene_factor, "sections": sections}
    rebuilt = _rebuild_scaled(counts, factors)
    same = all(np.array_equal(getattr(rebuilt, a), getattr(scaled, a)) for a in ("indptr", "indices", "data"))
    return factors if same and rebuilt.shape == scaled.shape else None


def _rebuild_scaled(counts: sp.csr_matrix, factors) -> sp.csr_matrix:
    """The scaled encoder input from the counts and :func:`_scaling_factors`' factors."""
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    data = counts.data.astype(np.float32) * factors["spot_factor"][rows]
    data *= factors["gene_factor"][factors["sections"][rows], counts.indices]
    np.minimum(data, 10, out=data)
    scaled = sp.csr_matrix((data, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)
    scaled.eliminate_zeros()
    return scaled


def _load(path: Path) -> dict:
    f = np.load(path)
    names = [name for name in ("scaled", "counts", "spatial", "feature") if f"{name}_data" in f]
    matrices = {
        name: sp.csr_matrix(
            (f[f"{name}_data"], f[f"{name}_indices"], f[f"{name}_indptr"]), shape=tuple(f[f"{name}_shape"])
        )
        for name in names
    }
    if "scaled" not in matrices:  # sent as factors of the counts
        matrices["scaled"] = _rebuild_scaled(matrices["counts"], f)
    return {**matrices, "semantic": f["semantic"]}


def train(args) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    import torch

    from semst_sc import nn

    data = _load(args.data)
    counts = data["counts"].toarray()
    totals = counts.sum(axis=1)
    size_factors = (totals / np.median(totals[totals > 0])).astype(np.float32)
    inputs = {"scaled": data["scaled"].toarray(), "log_standardised": nn.standardised_log(counts)}
    graphs = {"spatial": data["spatial"], "feature": data["feature"]}
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, embeddings = [], {}

    def run(config: str, seed: int, n_steps: int | None = None) -> dict:
        name, minibatch = CONFIGS[config]
        cls = nn.get_encoder(name)
        tissue = nn.GraphData(inputs[cls.input_transform], counts, size_factors, graphs, data["semantic"])
        torch.manual_seed(seed)
        model = cls(tissue.x.shape[1], counts.shape[1], tissue.semantic.shape[1]).to(device)
        if minibatch:
            sampler = nn.NeighbourSampler(tissue, cls.graphs, device, rng=seed)
        else:
            sampler = nn.FullBatchSampler(tissue, cls.graphs, device, rng=seed)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        nn.train(
            model,
            sampler,
            n_steps=n_steps or cls.n_epochs,
            weight_decay=cls.weight_decay,
            average_from=AVERAGE_FROM,
            progress=False,
        )
        trained = time.perf_counter()
        z = nn.embed(model, sampler).cpu().numpy()
        done = time.perf_counter()
        peak = round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None
        return {
            "config": config,
            "seed": seed,
            "train_s": trained - start,
            "embed_s": done - trained,
            "z": z,
            "peak_device_mb": peak,
            "n_steps": n_steps or cls.n_epochs,
            "average_from": AVERAGE_FROM,
        }

    for config in args.configs:
        warm = run(config, 0, n_steps=2)  # CUDA context, kernels and allocator warm
        print(f"warm-up {config}: {warm['train_s']:.2f} s", flush=True)
        first = None
        for seed in args.seeds:
            result = run(config, seed, args.n_steps)
            if first is None:  # the first seed again: is training deterministic on this device?
                first = run(config, seed, args.n_steps)["z"]
                result["repeat_identical"] = bool(np.array_equal(first, result["z"]))
            embeddings[f"{args.data.stem}_{config}_{seed}"] = _first_pcs(result.pop("z"), seed)
            result.update(
                data=args.data.stem,
                device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                threads=torch.get_num_threads(),
                torch=torch.__version__,
            )
            rows.append(result)
            print(result, flush=True)
    pd.DataFrame(rows).to_csv(args.out / "timings.csv", index=False)
    np.savez_compressed(args.out / "embeddings.npz", **embeddings)


def determinism(args) -> None:
    """Where two identical training steps of the dual encoder first part on ``args.device``.

    Builds the model and its first full batch twice from seed 0, runs one forward and backward pass each, and
    prints the first module (in call order) whose output differs, every parameter whose gradient differs (largest
    absolute difference), and what torch's strict deterministic mode says of the step.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    from semst_sc import nn

    data = _load(args.data)
    counts = data["counts"].toarray()
    totals = counts.sum(axis=1)
    size_factors = (totals / np.median(totals[totals > 0])).astype(np.float32)
    graphs = {"spatial": data["spatial"], "feature": data["feature"]}
    device = torch.device(args.device)
    cls = nn.get_encoder("dual")
    tissue = nn.GraphData(data["scaled"].toarray(), counts, size_factors, graphs, data["semantic"])

    def step() -> tuple[list, dict]:
        torch.manual_seed(0)
        model = cls(tissue.x.shape[1], counts.shape[1], tissue.semantic.shape[1]).to(device)
        batch = nn.FullBatchSampler(tissue, cls.graphs, device, rng=0).sample()
        outputs = []

        def keep(module, inputs, output, name=""):
            for i, out in enumerate(output if isinstance(output, tuple) else (output,)):
                if isinstance(out, torch.Tensor):
                    outputs.append((f"{name}[{i}]", out.detach().to_dense().cpu().clone()))

        hooks = [m.register_forward_hook(partial(keep, name=n)) for n, m in model.named_modules() if n]
        model(batch)["total"].backward()
        for hook in hooks:
            hook.remove()
        return outputs, {n: q.grad.detach().cpu().clone() for n, q in model.named_parameters() if q.grad is not None}

    torch.use_deterministic_algorithms(True, warn_only=True)  # as nn.train does
    (out_a, grad_a), (out_b, grad_b) = step(), step()
    pairs = zip(out_a, out_b, strict=True)
    differing = [(n, float((a - b).abs().max())) for (n, a), (_, b) in pairs if not torch.equal(a, b)]
    print("forward outputs differing (call order):", differing[:5] or "none", flush=True)
    grads = {n: float((grad_a[n] - grad_b[n]).abs().max()) for n in grad_a if not torch.equal(grad_a[n], grad_b[n])}
    print("gradients differing:", grads or "none", flush=True)
    for n_steps in (1, 2, 5, 20):
        embeddings = []
        for _ in range(2):
            torch.manual_seed(0)
            model = cls(tissue.x.shape[1], counts.shape[1], tissue.semantic.shape[1]).to(device)
            sampler = nn.FullBatchSampler(tissue, cls.graphs, device, rng=0)
            nn.train(model, sampler, n_steps=n_steps, progress=False)
            embeddings.append(nn.embed(model, sampler).cpu())
        print(f"{n_steps} steps: embeddings identical: {torch.equal(*embeddings)}", flush=True)
    products = {"torch.sparse.mm": torch.sparse.mm, "nn.propagate": nn.propagate}
    for (name, product), graph in itertools.product(products.items(), graphs):
        adjacency = nn.gcn_adjacency(graphs[graph]).to(device)
        values, x_grads = [], []
        for _ in range(2):
            torch.manual_seed(0)
            x = torch.randn(adjacency.shape[0], 256, device=device, requires_grad=True)
            out = product(adjacency, x)
            (out * torch.arange(256, device=device)).sum().backward()
            values.append(out.detach().cpu())
            x_grads.append(x.grad.cpu())
        same = torch.equal(*values), torch.equal(*x_grads)
        print(f"{name} on the {graph} graph: products identical {same[0]}, gradients identical {same[1]}", flush=True)
    torch.use_deterministic_algorithms(True)
    try:
        step()
        print("strict deterministic mode: no error", flush=True)
    except RuntimeError as error:
        print("strict deterministic mode:", str(error).splitlines()[0], flush=True)


def _first_pcs(z: np.ndarray, seed: int, n_pcs: int = 20) -> np.ndarray:
    """The first step of ``tl.cluster`` (PCA to ``n_pcs``, seeded), so that only small arrays travel back."""
    from sklearn.decomposition import PCA

    return PCA(n_components=n_pcs, random_state=seed).fit_transform(z.astype(np.float64)).astype(np.float32)


def score(args) -> None:
    import anndata as ad
    from harness.scores import scores
    from harness.tables import markdown

    import semst_sc as sst

    truths = {}  # data name -> the annotation of each section, in the order prepare joined them

    def truth(data: str) -> list[pd.Series]:
        if data not in truths:
            slices = data.removeprefix("dlpfc").split("+")
            truths[data] = [sst.datasets.dlpfc(s).obs["layer_guess_reordered"].rename(s) for s in slices]
        return truths[data]

    rows = []
    for folder in args.runs:
        timings = pd.read_csv(folder / "timings.csv")
        if "data" not in timings:  # runs of one slice, from before joint fits
            timings["data"] = "dlpfc151673"
        embeddings = np.load(folder / "embeddings.npz")
        for row in timings.to_dict("records"):
            key = f"{row['data']}_{row['config']}_{row['seed']}"
            z = embeddings[key if key in embeddings else f"{row['config']}_{row['seed']}"].astype(np.float64)
            spots = ad.AnnData(np.zeros((len(z), 1), np.float32), obsm={"X_semst": z})
            sst.tl.cluster(spots, 7, rng=int(row["seed"]))
            domains, start = spots.obs["semst_domain"].to_numpy(), 0
            for section in truth(row["data"]):
                found = pd.Series(domains[start : start + len(section)], index=section.index)
                start += len(section)
                ari = round(scores(section, found)["ari"], 3)
                rows.append({**row, "runs": folder.name, "section": section.name, "ari": ari})
    runs = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    summary = (
        runs.groupby(["data", "section", "config", "runs", "device"])
        .agg(
            train_s=("train_s", "mean"),
            train_s_sd=("train_s", "std"),
            embed_s=("embed_s", "mean"),
            peak_device_mb=("peak_device_mb", "max"),
            ari=("ari", "mean"),
            ari_min=("ari", "min"),
            ari_max=("ari", "max"),
            seeds=("seed", "size"),
            repeat_identical=("repeat_identical", "first"),  # the first seed run twice (NaN on the others)
            average_from=("average_from", "first"),  # NaN: runs from before it was recorded (the last step's weights)
        )
        .round(3)
        .reset_index()
    )
    seeds = ", ".join(map(str, sorted(runs.seed.unique())))
    text = f"# Training on DLPFC, one slice and two jointly: GPU against this CPU (seeds {seeds})\n\n"
    (args.out / "summary.md").write_text(text + markdown(summary) + "\n")
    print(text + markdown(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--slice", nargs="+", default=["151673"], help="one slice, or several to fit jointly")
    p.add_argument("--out", type=Path, default=Path(".gpu"))
    p.set_defaults(func=prepare)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    t.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    t.add_argument("--n-steps", type=int, help="training steps (default: each encoder's own; fewer for a smoke test)")
    t.add_argument("--out", type=Path, required=True)
    t.set_defaults(func=train)
    d = sub.add_parser("determinism", help="where two identical steps of the dual encoder part on a device")
    d.add_argument("--data", type=Path, required=True)
    d.add_argument("--device", default="cuda")
    d.set_defaults(func=determinism)
    s = sub.add_parser("score")
    s.add_argument("--runs", nargs="+", type=Path, required=True)
    s.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_training"))
    s.set_defaults(func=score)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
