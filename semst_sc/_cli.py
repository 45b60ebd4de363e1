"""Command line of semst_sc.

``semst-sc run`` on an .h5ad or Space Ranger folder, ``semst-sc demo`` on the simulated tissue, ``semst-sc train``
on a prepared .h5ad (the step ``torchrun`` starts for distributed training).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: help of --encoder (checked against semst_sc.nn.ENCODERS after parsing: --help stays free of torch)
ENCODER_HELP = "spot encoder, a name in semst_sc.nn.ENCODERS: dual (SemST's, the default) or contrastive"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``semst-sc`` and ``python -m semst_sc``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("semst-sc: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure becomes one actionable line
        if args.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"semst-sc: error: {message.strip(chr(34) + chr(39))}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semst-sc", description="Semantic-guided spatial domains (SemST).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="find spatial domains in an .h5ad file or a Space Ranger folder")
    run.add_argument("input", type=Path, help=".h5ad file (raw counts, obsm['spatial']) or Space Ranger output folder")
    run.add_argument("--n-clusters", type=int, default=None, help="number of domains (default: estimated)")
    run.add_argument("--output", type=Path, required=True, help="output .h5ad (domains in obs['semst_domain'])")
    run.add_argument("--plot", type=Path, default=None, help="write a PNG of the domains")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--layer", default=None, help="layer with raw counts (default: X)")
    run.add_argument("--gene-symbols", default=None, help="var column with gene symbols")
    run.add_argument(
        "--method", default=None, choices=["gmm", "kmeans", "leiden"], help="clustering method (default: gmm)"
    )
    run.add_argument(
        "--preset", default="default", choices=["default", "paper"], help="'paper': the reference hyper-parameters"
    )
    run.add_argument("--encoder", default="dual", help=ENCODER_HELP)
    run.add_argument("--epochs", type=int, default=None, help="training epochs (default: the documented default)")
    run.add_argument("--no-semantics", action="store_true", help="train without the semantic modulation")
    run.add_argument(
        "--semantic-mode", default=None, choices=["genes", "symbols"], help="semantic step mode (default: genes)"
    )
    run.add_argument("--gene-text", default=None, help="gene descriptions: 'human', 'mouse' or a TSV path")
    run.add_argument("--refine", action="store_true", help="spatial majority-vote refinement of the domains")
    run.add_argument(
        "--keep-intermediates",
        action="store_true",
        help="keep the encoder input layers['semst_scaled'] in the output (default: dropped, a lighter file)",
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="run the whole pipeline on the simulated demo tissue")
    demo.add_argument("--output-dir", type=Path, default=Path("demo_output"), help="folder for demo.h5ad, domains.png")
    demo.add_argument("--size", type=int, default=40, help="rows and columns of the simulated Visium grid")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)

    train = sub.add_parser(
        "train",
        help="learn the SemST embedding of a prepared .h5ad; under torchrun with --distributed, across processes",
    )
    train.add_argument(
        "input", type=Path, help=".h5ad after sst.pp.prepare, spatial_graph, feature_graph and gene_semantics"
    )
    train.add_argument(
        "--output",
        type=Path,
        required=True,
        help=".h5ad (the input with obsm['X_semst'] and uns['semst']) or .npy (the embedding alone); rank 0 writes",
    )
    train.add_argument("--epochs", type=int, default=None, help="training steps (default: the documented default)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--minibatch", default="auto", choices=["auto", "on", "off"], help="mini-batch training (default: auto)"
    )
    train.add_argument("--minibatch-size", type=int, default=None, help="spots per mini-batch step (default 1024)")
    train.add_argument(
        "--distributed", action="store_true", help="data-parallel training across the processes of a torchrun job"
    )
    train.add_argument("--encoder", default="dual", help=ENCODER_HELP)
    train.add_argument("--no-semantics", action="store_true", help="train without the semantic modulation")
    train.set_defaults(func=_train)

    for p in (run, demo, train):
        p.add_argument("--quiet", action="store_true", help="no progress bars or log messages")
        p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parser


def _setup(args) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import scanpy as sc

    from ._settings import settings

    sc.settings.verbosity = 1 if args.quiet else 2
    settings.progress = not args.quiet


def _run(args) -> int:
    _setup(args)
    import anndata as ad

    from . import datasets, pl
    from ._pipeline import run_pipeline
    from .nn import get_encoder

    get_encoder(args.encoder)  # an unknown encoder fails before the data are read
    if not args.input.exists():
        raise FileNotFoundError(f"{args.input} does not exist")
    if args.input.is_dir():
        adata = datasets.read_spaceranger(args.input)
    elif args.input.suffix == ".h5ad":
        adata = ad.read_h5ad(args.input)
    else:
        raise ValueError(f"{args.input}: give an .h5ad file or a Space Ranger output folder")
    if args.output.suffix != ".h5ad":
        raise ValueError(f"--output must end in .h5ad, got {args.output}")

    run_pipeline(
        adata,
        args.n_clusters,
        layer=args.layer,
        gene_symbols=args.gene_symbols,
        semantics=not args.no_semantics,
        semantic_mode=args.semantic_mode,
        gene_text=args.gene_text,
        n_epochs=args.epochs,
        method=args.method,
        preset=args.preset,
        encoder=args.encoder,
        refine=args.refine,
        keep_intermediates=args.keep_intermediates,
        rng=args.seed,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(args.output, compression="gzip")  # counts and graphs compress well: about half the size
    if args.plot is not None:
        pl.domains(adata, show=False, save=str(args.plot))
    n = adata.obs["semst_domain"].nunique()
    print(f"semst-sc: {adata.n_obs} spots in {n} domains -> {args.output}")
    return 0


def _train(args) -> int:
    _setup(args)
    import anndata as ad
    import numpy as np

    from . import tl
    from .nn import get_encoder

    get_encoder(args.encoder)
    if args.output.suffix not in (".h5ad", ".npy"):
        raise ValueError(f"--output must end in .h5ad or .npy, got {args.output}")
    if not args.input.exists():
        raise FileNotFoundError(f"{args.input} does not exist")
    adata = ad.read_h5ad(args.input)
    train_kwargs = {"minibatch": {"auto": "auto", "on": True, "off": False}[args.minibatch]}
    train_kwargs["distributed"] = args.distributed
    if args.minibatch_size is not None:
        train_kwargs["minibatch_size"] = args.minibatch_size
    tl.semst(
        adata,
        encoder=args.encoder,
        train_kwargs=train_kwargs,
        n_epochs=args.epochs,
        semantic_key=None if args.no_semantics else "X_semantic",
        rng=args.seed,
    )
    if int(os.environ.get("RANK", 0)) != 0:  # every process holds the embedding; the first one writes it
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix == ".npy":
        np.save(args.output, adata.obsm["X_semst"])
    else:
        adata.write_h5ad(args.output)
    world_size = adata.uns["semst"]["params"]["world_size"]
    print(f"semst-sc: embedded {adata.n_obs} spots ({world_size} process(es)) -> {args.output}")
    return 0


def _demo(args) -> int:
    _setup(args)
    from . import datasets, metrics, pl
    from ._pipeline import run_pipeline

    adata = datasets.simulate_tissue(args.size, args.size, rng=args.seed)
    n_domains = adata.obs["domain"].nunique()
    print(f"semst-sc demo: simulated {adata.n_obs} spots x {adata.n_vars} genes, {n_domains} domains")
    run_pipeline(adata, n_domains, rng=args.seed)
    scores = metrics.evaluate(adata, "domain")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(args.output_dir / "demo.h5ad")
    pl.domains(
        adata,
        color=["domain", "semst_domain"],
        title=["simulated truth", "SemST domains"],
        show=False,
        save=str(args.output_dir / "domains.png"),
    )
    print(f"ARI = {scores['ari']:.3f}  NMI = {scores['nmi']:.3f}  PAS = {scores['pas']:.3f}")
    print(f"wrote {args.output_dir / 'demo.h5ad'} and {args.output_dir / 'domains.png'}")
    return 0
