"""Command line of semst_sc.

``semst-sc run`` on an .h5ad, an output folder (Space Ranger, Xenium, MERSCOPE, CosMx), a Stereo-seq GEM file or a
SpatialData .zarr store,
``semst-sc demo`` on the simulated tissue, ``semst-sc train`` on a prepared .h5ad (the step ``torchrun`` starts for
distributed training),
``semst-sc query`` on ``run``'s output (a free-text search of the tissue), ``semst-sc annotate`` on ``run``'s output
(names of its domains).

Every argument and path is checked before the first expensive step: parsing, ``--help``, ``--version`` and the
usage and path errors import neither scanpy nor torch; output folders are created (and probed for writing) before the
data are read.
"""

from __future__ import annotations

import argparse
import errno
import fnmatch
import inspect
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from . import _constants as C
from ._constants import DEFAULT_POOLING, POOLINGS, TABLE_KEY
from ._files import write_atomically
from ._gene_text_path import check_gene_text_path

#: help of --encoder (checked against semst_sc.nn.ENCODERS after parsing: --help stays free of torch)
ENCODER_HELP = (
    "spot encoder, a name in semst_sc.nn.ENCODERS: dual (SemST's) or contrastive; auto (the default): contrastive "
    "for several sections at spot resolution, dual otherwise"
)
#: image formats --plot accepts (matplotlib's, without the ones that need optional Pillow plugins)
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")
#: what --gene-text may be, as its messages say
GENE_TEXT_KINDS = "'human', 'mouse', a table of gene descriptions or a folder of the NCBI files"
#: help of --gene-text (run's, query's, annotate's)
GENE_TEXT_HELP = "gene descriptions: 'human', 'mouse', a table path or a folder of NCBI files"
#: help of --organism (run's with --annotate, query's, annotate's)
ORGANISM_HELP = "organism whose gene knowledge is read: human or mouse (default: guessed from the gene symbols)"
#: help of --gene-symbols of the commands that read run's output (query's, annotate's)
GENE_SYMBOLS_HELP = "var column with gene symbols (default: the one given to run, as its output records it)"
#: help of run's --output
OUTPUT_HELP = (
    "output .h5ad (domains in obs['semst_domain']); an existing file is replaced when the run completes (kept whole "
    "if it fails). For a SpatialData .zarr input: a new .zarr store, the whole "
    "SpatialData with the results in its table (SpatialData.write; images and other elements are copied along), or "
    "an .h5ad of that table alone (lighter). The input store is never rewritten"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``semst-sc`` and ``python -m semst_sc``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    handled = _stop_on_signals()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("semst-sc: interrupted", file=sys.stderr)
        return 130
    except _Terminated as stop:
        print(f"semst-sc: terminated ({signal.Signals(stop.signum).name})", file=sys.stderr)
        return 128 + stop.signum
    except Exception as error:  # noqa: BLE001 - every failure becomes one actionable line
        if args.debug:
            raise
        text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)  # KeyError quotes
        message = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        print(f"semst-sc: error: {message}", file=sys.stderr)
        return 1
    finally:
        for signum, previous in handled.items():
            signal.signal(signum, previous)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP (a batch system's time limit, a closed terminal): unwinds as Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> dict:
    """Turn SIGTERM and SIGHUP into :class:`_Terminated`, so that partial outputs are removed on the way out.

    Returns the handlers replaced (none outside the main thread, where Python cannot set them).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):
        raise _Terminated(signum)

    signals = [signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    return {signum: signal.signal(signum, stop) for signum in signals}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semst-sc", description="Semantic-guided spatial domains (SemST).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="find spatial domains in an .h5ad, an instrument's output folder, a GEM file or a SpatialData store",
    )
    run.add_argument(
        "input",
        type=_user_path,
        nargs="+",
        help=".h5ad file (raw counts, obsm['spatial']); output folder of Space Ranger (Visium, Visium HD bins or "
        "cells), Xenium (cell_feature_matrix.h5, cells.parquet), MERSCOPE (cell_by_gene.csv, cell_metadata.csv) "
        "or CosMx (*_exprMat_file.csv, *_metadata_file.csv); Stereo-seq .gem or .gem.gz file (see --bin-size); or"
        " SpatialData .zarr store (written by spatialdata-io: a folder ending in .zarr or holding zarr metadata)."
        " Several .h5ad or GEM files or output folders are sections fitted jointly, one set of domains for all, "
        "each named by its file name or folder name (the folder above an 'outs' folder) in obs['library_id']",
    )
    run.add_argument(
        "--library-key",
        default=None,
        help="obs column telling the sections of one .h5ad apart (fitted jointly); several inputs set it to "
        "'library_id'",
    )
    run.add_argument(
        "--table-key",
        default=TABLE_KEY,
        help=f"table of a SpatialData input with the counts (default: {TABLE_KEY}); without obsm['spatial'], the "
        "centroids of the shapes, points or labels it annotates are its coordinates",
    )
    run.add_argument(
        "--count-file",
        default=None,
        help="count matrix inside a Space Ranger folder: a 10x .h5 file or an mtx folder "
        "(default: filtered_feature_bc_matrix.h5, else filtered_feature_bc_matrix/)",
    )
    run.add_argument(
        "--bin-size",
        type=_bin_size,
        default=None,
        help="DNBs per side of the square bins a Stereo-seq GEM input is summed into (default 50: bin50, 25 um), or "
        "'cell': by the CellID column of a cell-bin GEM",
    )
    run.add_argument(
        "--n-clusters",
        type=_positive_int,
        default=None,
        help="number of domains (default: estimated, see sst.tl.cluster; a warning when on a bound)",
    )
    run.add_argument("--output", type=_user_path, required=True, help=OUTPUT_HELP)
    run.add_argument(
        "--plot", type=_user_path, default=None, help="write an image of the domains (.png, .pdf, .svg, ...)"
    )
    run.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    run.add_argument(
        "--layer", default=None, help="layer with raw counts (default: X, or layers['counts'] when X holds none)"
    )
    run.add_argument(
        "--resolution",
        default="auto",
        choices=["auto", "spot", "cell"],
        help="'spot' (Visium, ST), 'cell' (single cells or bins, modelled with their neighbourhood) or 'auto' "
        "(default: detected from the coordinates' lattice and the counts per observation)",
    )
    run.add_argument(
        "--neighbourhood-size",
        type=_positive_int,
        default=None,
        help="observations pooled per neighbourhood at cell resolution, itself included (default 20)",
    )
    run.add_argument(
        "--neighbourhood-pooling",
        default=DEFAULT_POOLING,
        choices=list(POOLINGS),
        help="at cell resolution, sum the pooled observations with each one's counts capped at the median counts "
        "per observation ('capped', the default), as they are ('counts') or each brought to the median ('cells': "
        "every cell weighs the same)",
    )
    run.add_argument("--gene-symbols", default=None, help="var column with gene symbols")
    run.add_argument(
        "--method",
        default=None,
        choices=list(C.CLUSTER_METHODS),
        help="clustering method (default: gmm; mclust needs pip install 'semst_sc[mclust]')",
    )
    run.add_argument(
        "--preset", default="default", choices=["default", "paper"], help="'paper': the reference hyper-parameters"
    )
    run.add_argument("--encoder", default="auto", help=ENCODER_HELP)
    run.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: the encoder's, 100 for dual, 300 for contrastive)",
    )
    run.add_argument("--no-semantics", action="store_true", help="train without the semantic modulation")
    run.add_argument(
        "--pair-weighting",
        default=None,
        choices=["uniform", "similarity"],
        help="how the dual encoder's spatial loss pulls neighbour pairs (with --encoder auto it chooses the dual "
        "encoder, also for several sections): 'uniform' (the default) or 'similarity' "
        "(by how alike their inputs are, not across sharp borders; better on thin layers such as the olfactory "
        "bulb's, worse on some DLPFC slices: docs/results.md)",
    )
    run.add_argument(
        "--semantic-mode", default=None, choices=["genes", "symbols"], help="semantic step mode (default: genes)"
    )
    run.add_argument("--gene-text", default=None, help=GENE_TEXT_HELP)
    run.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="majority-vote refinement of the domains (default: at cell resolution only)",
    )
    run.add_argument(
        "--merge-extra",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also cluster into one domain more and merge back the most intertwined, alike pair, keeping the more "
        "spatially coherent partition (default: at cell resolution only)",
    )
    run.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        help="trainings of the model, each clustered, the one with the most spatially coherent domains kept "
        "(default 1)",
    )
    run.add_argument(
        "--annotate",
        action="store_true",
        help="name each domain from its marker genes and gene knowledge (obs['semst_domain_name'], "
        "uns['semst_domain_annotation'], names in the plot legend); gene descriptions: --gene-text, else those of "
        "SEMST_DATA_DIR when found",
    )
    _naming_options(run, "with --annotate: ")
    run.add_argument(
        "--keep-intermediates",
        action="store_true",
        help="keep the encoder input layers['semst_scaled'] in the output (default: dropped, a lighter file)",
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="run the whole pipeline on the simulated demo tissue")
    demo.add_argument(
        "--output-dir", type=_user_path, default=Path("demo_output"), help="folder for demo.h5ad, domains.png"
    )
    demo.add_argument(
        "--size",
        type=_positive_int,
        default=40,
        help="rows and columns of the simulated Visium grid (at least 4; default 40)",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)

    train = sub.add_parser(
        "train",
        help="learn the SemST embedding of a prepared .h5ad; under torchrun with --distributed, across processes",
    )
    train.add_argument(
        "input", type=_user_path, help=".h5ad after sst.pp.prepare, spatial_graph, feature_graph and gene_semantics"
    )
    train.add_argument(
        "--output",
        type=_user_path,
        required=True,
        help=".h5ad (the input with obsm['X_semst'] and uns['semst']) or .npy (the embedding alone); rank 0 writes",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training steps (default: the encoder's, 100 for dual, 300 for contrastive)",
    )
    train.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    train.add_argument(
        "--minibatch", default="auto", choices=["auto", "on", "off"], help="mini-batch training (default: auto)"
    )
    train.add_argument(
        "--minibatch-size", type=_positive_int, default=None, help="spots per mini-batch step (default 1024)"
    )
    train.add_argument(
        "--distributed", action="store_true", help="data-parallel training across the processes of a torchrun job"
    )
    train.add_argument("--encoder", default="auto", help=ENCODER_HELP)
    train.add_argument("--no-semantics", action="store_true", help="train without the semantic modulation")
    train.set_defaults(func=_train)

    query = sub.add_parser("query", help="score each spot of run's output for a free-text query, e.g. 'myelination'")
    query.add_argument("input", type=_user_path, help=".h5ad written by semst-sc run (raw counts, obsm['spatial'])")
    query.add_argument("text", help="the query, e.g. 'myelination', 'reactive astrocytes', 'B cells'")
    query.add_argument("--plot", type=_user_path, default=None, help="write an image of the score map")
    query.add_argument(
        "--output",
        type=_user_path,
        default=None,
        help="write the input with the score (obs['semst_query']) to this .h5ad",
    )
    query.add_argument("--gene-text", default=None, help=GENE_TEXT_HELP)
    query.add_argument("--organism", default=None, choices=["human", "mouse"], help=ORGANISM_HELP)
    query.add_argument("--gene-symbols", default=None, help=GENE_SYMBOLS_HELP)
    query.add_argument("--n-genes", type=_positive_int, default=30, help="genes that drive the score (default 30)")
    query.add_argument(
        "--tissue",
        default=None,
        help="keep the catalogue to the entries of this tissue ('brain', a brain region such as 'cortex' or "
        "'olfactory bulb', or 'non-neural'; default: every entry; see sst.tl.query)",
    )
    query.add_argument(
        "--each-cell",
        action="store_true",
        help="at cell resolution, score each cell alone (default: each cell's neighbourhood, as run models it)",
    )
    for end, which, example in (("--vmin", "lowest", "p1"), ("--vmax", "highest", "p99")):
        query.add_argument(
            end,
            type=_colour_end,
            default=None,
            help=f"{which} end of --plot's colour scale: a number or a percentile of the scores, e.g. {example} "
            f"(default: the {which} score)",
        )
    query.set_defaults(func=_query)

    annotate = sub.add_parser(
        "annotate", help="name the domains of run's output from their marker genes and gene knowledge"
    )
    annotate.add_argument(
        "input", type=_user_path, help=".h5ad written by semst-sc run (raw counts, domains in obs['semst_domain'])"
    )
    annotate.add_argument(
        "--output",
        type=_user_path,
        default=None,
        help="write the input with the names (obs['semst_domain_name'], uns['semst_domain_annotation']) to this "
        ".h5ad, replacing an earlier annotation (without --output the names are printed, nothing is written)",
    )
    annotate.add_argument(
        "--plot",
        type=_user_path,
        default=None,
        help="write the domain report (sst.pl.domain_report: the map, each domain's name, confidence, markers and "
        "terms) to this image",
    )
    annotate.add_argument(
        "--domain-key", default=C.DOMAIN_KEY, help=f"obs column of the domains (default: {C.DOMAIN_KEY})"
    )
    annotate.add_argument("--gene-text", default=None, help=GENE_TEXT_HELP)
    annotate.add_argument("--gene-symbols", default=None, help=GENE_SYMBOLS_HELP)
    _naming_options(annotate)
    annotate.set_defaults(func=_annotate)

    runs = {run: "the model trains and the text model runs", demo: "the model trains and the text model runs"}
    texts = {train: "the model trains", query: "the text model runs", annotate: "the text model runs"}
    for p, what in {**runs, **texts}.items():
        p.add_argument(
            "--device",
            type=_device,
            default="auto",
            help=f"where {what}: auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps (default auto)",
        )
        p.add_argument(
            "--quiet", action="store_true", help="no progress bars or progress messages (warnings still print)"
        )
        p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parser


def _naming_options(parser: argparse.ArgumentParser, condition: str = "") -> None:
    """Add the options of :func:`semst_sc.tl.annotate_domains` (run's, each help starting with ``condition``)."""
    parser.add_argument(
        "--tissue",
        default=None,
        help=f"{condition}name domains only after compartments of this tissue ('brain', a brain region such as "
        "'cortex' or 'olfactory bulb', or 'non-neural'; default 'auto': brain (or the brain region most domains "
        "match) or non-neural, guessed from the domains' best matches; see sst.tl.annotate_domains)",
    )
    parser.add_argument("--organism", default=None, choices=["human", "mouse"], help=f"{condition}{ORGANISM_HELP}")
    parser.add_argument(
        "--distinct-names",
        action="store_true",
        help=f"{condition}name the domains after different compartments (sst.tl.annotate_domains(distinct=True); "
        "measured to name fewer regions right than the default)",
    )
    parser.add_argument(
        "--cell-types",
        action="store_true",
        help=f"{condition}name domains after cell types as well as compartments (interneurons, microglia, immune "
        "cells, ...; sst.tl.annotate_domains(cell_types=True)), e.g. for clusters of single cells",
    )


def _version() -> str:
    from . import __version__

    return __version__


def _integer(minimum: int):
    """Argparse type of an integer >= ``minimum`` (counts: 1; seeds: 0), refused while parsing."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            got = repr(text) if value is None else value
            raise argparse.ArgumentTypeError(f"must be {what}, got {got}")
        return value

    return parse


_positive_int, _seed = _integer(1), _integer(0)


def _device(text: str) -> str:
    """Argparse type of ``--device``: a device name ``sst.settings.device`` takes, refused while parsing."""
    from ._settings import check_device

    try:
        return check_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _colour_end(text: str) -> float | str:
    """Argparse type of ``--vmin``/``--vmax``: a number, or a percentile of the scores as scanpy writes it (``p99``).

    A percentile is ``p`` and digits with at most one point, 0 to 100, as :func:`semst_sc.pl.query` reads it.
    """
    if text.startswith("p"):
        number = text[1:]
        if number.replace(".", "", 1).isdecimal() and float(number) <= 100:
            return text
    else:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
    raise argparse.ArgumentTypeError(f"must be a number or a percentile 'p0'-'p100' (e.g. 'p99'), got {text!r}")


def _bin_size(text: str) -> int | str:
    """Argparse type of ``--bin-size``: a positive integer or ``cell``."""
    if text == "cell":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'cell', got {text!r}") from None


def _check_input(path: Path, *, folder_ok: bool) -> None:
    """Raise unless ``path`` is an existing .h5ad file (or, when ``folder_ok``, a folder or a GEM file)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if folder_ok and path.is_dir() and _folder_platform(path) == "spaceranger" and not _is_spaceranger(path):
        inside = sorted(p for p in [path / "outs", *path.glob("region_*")] if _folder_platform(p) is not None)
        hint = f"; it holds {inside[0].name}/: pass {inside[0]}" if inside else ""
        raise FileNotFoundError(
            f"{path} is no output folder semst-sc reads{hint}. It reads Space Ranger's outs (a count matrix and "
            "spatial/), Xenium's output (cell_feature_matrix.h5, cells.parquet), a MERSCOPE region folder "
            "(cell_by_gene.csv, cell_metadata.csv), a CosMx export (*exprMat_file.csv, *metadata_file.csv), a "
            "SpatialData .zarr folder, an .h5ad file or a Stereo-seq .gem(.gz) file"
        )
    if folder_ok and (path.is_dir() or _is_gem(path)):
        return
    instrument_files = (
        C.XENIUM_EXPERIMENT, *C.XENIUM_MATRICES, C.XENIUM_ZARR, *C.XENIUM_CELL_TABLES, "*feature_bc_matrix.h5",
        "*feature_cell_matrix.h5", "*cell_segmentations.geojson",
        C.MERSCOPE_COUNTS, C.MERSCOPE_METADATA, C.COSMX_COUNTS, C.COSMX_METADATA,
    )  # fmt: skip
    if folder_ok and any(fnmatch.fnmatch(path.name, pattern) for pattern in instrument_files):
        raise ValueError(f"{path} is one file of an instrument's output: pass its folder, {path.parent}")
    if path.is_dir() or path.suffix.lower() != ".h5ad":
        what = (
            "an .h5ad file, an output folder of Space Ranger, Xenium, MERSCOPE or CosMx, a Stereo-seq .gem(.gz) file "
            "or a SpatialData .zarr folder"
            if folder_ok
            else "an .h5ad file"
        )
        raise ValueError(f"{path}: give {what}")


def _is_gem(path: Path) -> bool:
    """Return True when ``path`` is a file named like a Stereo-seq GEM: ``.gem`` or ``.gem.gz``."""
    return path.is_file() and path.name.lower().endswith((".gem", ".gem.gz"))


def _folder_platform(path: Path) -> str | None:
    """Return the platform whose output folder ``path`` is (its reader's name in ``datasets``), or None.

    ``"xenium"``: ``experiment.xenium``, a cell-feature matrix or a cell table; ``"merscope"``: a cell-by-gene
    table; ``"cosmx"``: an expression matrix; ``"spaceranger"``: any other folder that is no zarr store.
    """
    if not path.is_dir() or _is_zarr_store(path):
        return None
    xenium = (*C.XENIUM_MATRICES, C.XENIUM_ZARR, *C.XENIUM_CELL_TABLES)
    if (path / C.XENIUM_EXPERIMENT).is_file() or any(next(path.glob(p), None) for p in xenium):
        return "xenium"
    for platform, pattern in (("merscope", C.MERSCOPE_COUNTS), ("cosmx", C.COSMX_COUNTS)):
        if next(path.glob(pattern), None) is not None:
            return platform
    return "spaceranger"


def _is_spaceranger(path: Path) -> bool:
    """Return True when ``path`` looks like Space Ranger output: a 10x matrix, ``spatial/`` or Visium HD folders."""
    names = (
        "spatial", "filtered_feature_bc_matrix", "raw_feature_bc_matrix", "filtered_feature_cell_matrix",
        "binned_outputs", "segmented_outputs",
    )  # fmt: skip
    return (
        path.name in ("binned_outputs", "segmented_outputs")
        or any((path / name).exists() for name in names)
        or next(path.glob("*.h5"), None) is not None
    )


def _is_anndata_zarr(path: Path) -> bool:
    """Return True when ``path`` is an AnnData written with ``write_zarr`` (zarr v2 or v3), not a SpatialData."""
    for name, attributes in ((".zattrs", lambda meta: meta), ("zarr.json", lambda meta: meta.get("attributes", {}))):
        try:
            meta = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and attributes(meta).get("encoding-type") == "anndata":
            return True
    return False


def _is_zarr_store(path: Path) -> bool:
    """Return True when ``path`` is a zarr store: a folder ending in .zarr or holding zarr (v2 or v3) metadata."""
    return path.is_dir() and (
        path.suffix.lower() == ".zarr" or (path / ".zgroup").is_file() or (path / "zarr.json").is_file()
    )


def _user_path(text: str) -> Path:
    """Return a path argument with ``~`` expanded (a shell leaves ``--output=~/x`` as it is)."""
    return Path(text).expanduser()


def _check_output(path: Path, option: str, suffixes: tuple[str, ...]) -> None:
    """Check an output file name, create its folder and probe that a file can be written there.

    Runs before any data are read, so that a bad output path fails in a second, not after the training.
    """
    if path.suffix.lower() not in suffixes:
        allowed = " or ".join(suffixes) if len(suffixes) < 3 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
        raise ValueError(f"{option} must end in {allowed}, got {path}")
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name ending in {suffixes[0]}")
    _probe_folder(path, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"cannot write {option} {path}: the file exists and is read-only")


def _check_new_store(path: Path, option: str) -> None:
    """Check that ``path`` names a zarr store still to be written, in a folder that can be written."""
    if path.exists():
        raise FileExistsError(f"{option} {path} already exists: give a new .zarr name (a store is never overwritten)")
    _probe_folder(path, option)


def _probe_folder(path: Path, option: str) -> None:
    """Create the folder of output ``path`` and probe that a file can be written there."""
    folder = path.resolve().parent  # a symbolic link is written through, to its target's folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PermissionError(
            f"cannot write {option} {path}: its folder {folder} cannot be created or written ({reason}); "
            "choose a writable location"
        ) from None


def _read_h5ad(path: Path):
    """Read an .h5ad file; a damaged or foreign file gives an error that names it."""
    import anndata as ad

    try:
        return ad.read_h5ad(path)
    except Exception as error:  # noqa: BLE001 - h5py, anndata and OS errors all mean the same to the user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{path} is not a readable .h5ad file ({reason}): it may be truncated or another format; "
            "write it again with adata.write_h5ad()"
        ) from error


def _read_zarr(path: Path):
    """Read a SpatialData .zarr store; a missing spatialdata package or a foreign folder gives an error naming it."""
    from ._spatialdata import import_spatialdata

    spatialdata = import_spatialdata()
    try:
        return spatialdata.read_zarr(path)
    except Exception as error:  # noqa: BLE001 - zarr, spatialdata and OS errors all mean the same to the user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{path} is not a readable SpatialData .zarr store ({reason}): read the raw output with spatialdata-io "
            "and write it with SpatialData.write()"
        ) from error


def _write_store(sdata, path: Path) -> None:
    """Write ``sdata`` as the new zarr store ``path``: into a hidden folder beside it, renamed there when complete."""
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with warnings.catch_warnings():  # one zarr notice per array written, about a future default
            warnings.filterwarnings("ignore", message="zarr v3 autosharding", category=UserWarning)
            sdata.write(partial / path.name, update_sdata_path=False)
        try:
            os.replace(partial / path.name, path)
        except OSError as error:
            if not path.exists():
                raise
            raise FileExistsError(
                f"--output {path} was written by something else while this run worked (another run?): a store is "
                "never overwritten, and this run's is not kept; run again with a new .zarr name"
            ) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _write_h5ad(adata, path: Path, **kwargs) -> None:
    """Write ``adata`` to ``path`` as :func:`_write_file` does."""
    _write_file(path, lambda partial: adata.write_h5ad(partial, **kwargs))


def _write_file(path: Path, write) -> None:
    """Write ``path`` through a hidden file beside it (``write(partial)``), renamed when complete.

    An interrupted write leaves any earlier file at ``path`` (the input itself, when ``--output`` names it) whole.
    """
    path = path.resolve()  # through a symbolic link to its target, as writing in place would
    try:
        write_atomically(path, write)
    except Exception as error:  # h5py's message of a full disk puts the cause past its first line
        text = str(error) or type(error).__name__
        full = "No space left on device" in text or getattr(error, "errno", None) == errno.ENOSPC
        reason = "No space left on device" if full else text.splitlines()[0]
        raise OSError(f"cannot write {path}: {reason}") from error


def _save_npy(path: str, array) -> None:
    """Write ``array`` to ``path`` as it is named (``np.save`` given a name adds ``.npy`` unless it ends so)."""
    import numpy as np

    with open(path, "wb") as f:
        np.save(f, array)


def _setup(args) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import scanpy as sc

    from ._settings import settings

    sc.settings.verbosity = 1 if args.quiet else 2
    settings.progress = not args.quiet
    settings.resolve_device(args.device)  # 'cuda' without a GPU is refused before any work
    settings.device = args.device


def _run(args) -> int:
    # cheap checks first (no scanpy, no torch): paths, then the encoder name, then the data
    inputs = args.input
    for path in inputs:
        _check_input(path, folder_ok=True)
    names = _section_names(inputs, args.library_key)
    args.input = inputs[0]
    store = _is_zarr_store(args.input)
    if store and _is_anndata_zarr(args.input):
        raise ValueError(
            f"{args.input} is an AnnData written with write_zarr, not a SpatialData store: write it as an .h5ad "
            f"(anndata.read_zarr('{args.input}').write_h5ad('slide.h5ad')) and run on that"
        )
    if args.bin_size is not None and not all(_is_gem(path) for path in inputs):
        raise ValueError("--bin-size sums the DNBs of a Stereo-seq GEM input into bins; give .gem or .gem.gz files")
    platform = _folder_platform(args.input)
    if args.count_file is not None and platform != "spaceranger":
        folders = {
            "xenium": "a Xenium output folder",
            "merscope": "a MERSCOPE output folder",
            "cosmx": "a CosMx export folder",
        }
        what = "a SpatialData .zarr store" if store else folders.get(platform, "a file")
        raise ValueError(f"--count-file names the matrix inside a Space Ranger folder, but {args.input} is {what}")
    if args.table_key != TABLE_KEY and not store:
        raise ValueError(f"--table-key names a table of a SpatialData .zarr input, but {args.input} is no zarr store")
    check_gene_text_path(args.gene_text, "--gene-text", GENE_TEXT_KINDS)
    to_store = args.output.suffix.lower() == ".zarr"
    if to_store and not store:
        raise ValueError(
            f"--output {args.output}: a .zarr output is a SpatialData, written for a SpatialData .zarr input only; "
            "give an .h5ad"
        )
    if store and args.output.resolve().is_relative_to(args.input.resolve()):  # the input store is never written
        raise ValueError(f"--output {args.output} lies inside the input store: give a path outside {args.input}")
    if to_store:
        _check_new_store(args.output, "--output")
    else:
        _check_output(args.output, "--output", (".h5ad", ".zarr") if store else (".h5ad",))
    if args.plot is not None:
        _check_output(args.plot, "--plot", tuple(f".{f}" for f in PLOT_FORMATS))
    for flag, given in (
        ("--tissue", args.tissue is not None),
        ("--organism", args.organism is not None),
        ("--distinct-names", args.distinct_names),
        ("--cell-types", args.cell_types),
    ):
        if given and not args.annotate:
            raise ValueError(f"{flag} is about naming the domains: add --annotate")
    # options another one makes pointless: refused, not silently ignored
    if args.no_semantics and args.semantic_mode is not None:
        raise ValueError("--semantic-mode sets the semantic step, which --no-semantics leaves out: give one of them")
    if args.no_semantics and args.gene_text is not None and not args.annotate:
        raise ValueError("--gene-text is read by the semantic step and --annotate: with --no-semantics, add --annotate")
    if args.resolution == "spot" and (args.neighbourhood_size or args.neighbourhood_pooling != DEFAULT_POOLING):
        raise ValueError(
            "--neighbourhood-size and --neighbourhood-pooling are about cell resolution, and --resolution spot pools "
            "no neighbourhood: leave them out"
        )
    from .nn import get_encoder  # the encoders (and the tissues below) are known once torch and scanpy are loaded

    if args.encoder != "auto":
        encoder = get_encoder(args.encoder)  # an unknown encoder fails before the data are read
        if args.pair_weighting is not None and "pair_weighting" not in inspect.signature(encoder).parameters:
            raise ValueError(
                f"--pair-weighting is a setting of the encoders that weigh their neighbour pairs (dual); "
                f"{args.encoder} has none: leave it out"
            )
    if args.tissue is not None:
        from .tl._catalogue import check_tissue

        check_tissue(args.tissue)  # an unknown tissue fails before the data are read
    _setup(args)
    from . import datasets, pl
    from ._pipeline import run_pipeline
    from ._spatialdata import get_table
    from .pp._feature_graph import DEFAULT_N_NEIGHBORS

    def read(path: Path):
        if _is_gem(path):
            bins = datasets.read_gem(path, bin_size=args.bin_size or 50)
            fewest = max(args.n_clusters or 0, DEFAULT_N_NEIGHBORS + 1)  # the domains asked, the expression graph
            if bins.n_obs < fewest:
                raise ValueError(
                    f"--bin-size {args.bin_size or 50} sums {path.name} into {bins.n_obs} bins, fewer than the "
                    f"{fewest} the domains and the neighbour graphs need: give a smaller --bin-size"
                )
            return bins
        platform = _folder_platform(path)
        if platform == "spaceranger":
            return datasets.read_spaceranger(path, count_file=args.count_file)
        return _read_h5ad(path) if platform is None else getattr(datasets, f"read_{platform}")(path)

    library_key = args.library_key
    if store:
        data = _read_zarr(args.input)
    elif names is not None:
        from ._sections import LIBRARY_KEY, join_sections

        keep = "name its input file (less the suffix) or folder {value!r} to keep it (a link so named will do)"
        data = join_sections({name: read(path) for name, path in zip(names, inputs, strict=True)}, LIBRARY_KEY, keep)
        library_key = LIBRARY_KEY
    else:
        data = read(args.input)
    adata = get_table(data, args.table_key) if store else data  # a missing table lists the tables there are
    if args.annotate:
        _check_can_annotate(adata, args.gene_symbols, C.DOMAIN_KEY)
    stale = _drop_domains_and_names(adata, {C.DOMAIN_KEY}, drop_domains=False)  # an earlier run's names
    # run_pipeline checks the data and the remaining arguments (table, layer, gene symbols, spots) before its first step
    run_pipeline(
        data,
        args.n_clusters,
        layer=args.layer,
        resolution=args.resolution,
        neighbourhood_size=args.neighbourhood_size,
        neighbourhood_pooling=args.neighbourhood_pooling,
        library_key=library_key,
        gene_symbols=args.gene_symbols,
        semantics=not args.no_semantics,
        semantic_mode=args.semantic_mode,
        gene_text=args.gene_text,
        n_epochs=args.epochs,
        method=args.method,
        preset=args.preset,
        encoder=args.encoder,
        encoder_kwargs=None if args.pair_weighting is None else {"pair_weighting": args.pair_weighting},
        refine=args.refine,
        merge_extra=args.merge_extra,
        n_init=args.n_init,
        keep_intermediates=args.keep_intermediates,
        rng=args.seed,
        table_key=args.table_key,
    )
    if stale and not args.annotate:
        print(
            f"semst-sc: warning: left out {', '.join(stale)}: they named the input's domains; "
            "add --annotate to name these",
            file=sys.stderr,
        )
    unnamed = None  # why the domains found could not be named: the result is written all the same
    if args.annotate:
        try:
            _name_domains(adata, args, C.DOMAIN_KEY)
        except ValueError as error:  # the arguments were checked before the run: this is about the domains found
            unnamed = str(error)
    if args.plot is not None:  # before the result: a failing plot leaves no result behind an exit status of 1
        pl.domains(adata, library_key=library_key, show=False, save=str(args.plot))  # with --annotate: names too
    if to_store:
        _write_store(data, args.output)
    else:
        _write_h5ad(adata, args.output, compression="gzip")  # counts and graphs compress well: about half the size
    n = adata.obs[C.DOMAIN_KEY].nunique()
    sections = "" if library_key is None else f" of {adata.obs[library_key].nunique()} sections"
    named = f", named: {_names(adata)}" if args.annotate and unnamed is None else ""
    print(f"semst-sc: {adata.n_obs} {_observations(adata)}{sections} in {n} domains{named} -> {args.output}")
    if unnamed is not None:
        print(f"semst-sc: error: the domains are written without names: {unnamed}", file=sys.stderr)
        return 1
    return 0


def _check_can_annotate(adata, gene_symbols: str | None, domain_key: str) -> None:
    """Raise, before any work, what would keep the domains of ``obs[domain_key]`` from being named."""
    from .pp._gene_semantics import _resolve_symbols
    from .tl._annotate import holds_other_values

    _resolve_symbols(adata, gene_symbols)  # Ensembl IDs without symbols: the names need symbols
    if holds_other_values(adata, C.DOMAIN_NAME_KEY, domain_key):  # an earlier annotation's names are replaced
        raise ValueError(
            f"obs['{C.DOMAIN_NAME_KEY}'] of the input holds values of its own, and naming the domains writes their "
            "names there: rename or drop that column"
        )


def _name_domains(adata, args, domain_key: str) -> None:
    """Name the domains of ``obs[domain_key]`` with :func:`semst_sc.tl.annotate_domains`, as the options say."""
    from . import tl

    tl.annotate_domains(
        adata,
        domain_key=domain_key,
        organism=args.organism,
        gene_text=args.gene_text,
        gene_symbols=args.gene_symbols,
        tissue=args.tissue or "auto",
        distinct=args.distinct_names,
        cell_types=args.cell_types,
    )


def _section_names(inputs: list[Path], library_key: str | None) -> list[str] | None:
    """Name the sections of several inputs by file stem or folder name (``None`` for one input); raise on clashes."""
    if len(inputs) == 1:
        return None
    if any(_is_zarr_store(path) for path in inputs):
        raise ValueError(
            "several inputs are joined as sections of .h5ad or GEM files or output folders, not .zarr stores"
        )
    if library_key is not None:
        raise ValueError("--library-key names the section column of one .h5ad; several inputs are named by their files")
    names = [_stem(path) if path.is_file() else C.folder_section_name(path) for path in inputs]
    if len(set(names)) < len(names):
        raise ValueError(
            f"the inputs must have distinct file stems or folder names, the section names; got {names}: rename one "
            "(or a link to it), or name the sections in Python with sst.concat_sections({name: adata, ...})"
        )
    return names


def _stem(path: Path) -> str:
    """Return a file's name without its suffix, or its two suffixes for a compressed file (``a.gem.gz``: ``a``)."""
    return Path(path.stem).stem if path.suffix.lower() == ".gz" else path.stem


def _query(args) -> int:
    _check_input(args.input, folder_ok=False)
    if not any(character.isalnum() for character in args.text):
        raise ValueError("the query text is empty: give words to search for, e.g. 'myelination'")
    if args.plot is not None:
        _check_output(args.plot, "--plot", tuple(f".{f}" for f in PLOT_FORMATS))
    if args.output is not None:
        _check_output(args.output, "--output", (".h5ad",))
    if isinstance(args.vmin, float) and isinstance(args.vmax, float) and args.vmin > args.vmax:
        raise ValueError(f"--vmin {args.vmin:g} is above --vmax {args.vmax:g}: the colour scale runs from low to high")
    check_gene_text_path(args.gene_text, "--gene-text", GENE_TEXT_KINDS)
    _setup(args)
    from . import pl, tl
    from .tl._catalogue import check_tissue
    from .tl._query import holds_other_scores

    check_tissue(args.tissue)  # an unknown tissue fails before the data are read
    adata = _read_h5ad(args.input)
    args.gene_symbols = _gene_symbols(adata, args)
    if holds_other_scores(adata, C.QUERY_KEY):  # an earlier query's score is replaced
        raise ValueError(
            f"obs['{C.QUERY_KEY}'] of the input holds values of its own, and the query writes its score there: "
            "rename or drop that column"
        )
    tl.query(
        adata,
        args.text,
        organism=args.organism,
        gene_text=args.gene_text,
        gene_symbols=args.gene_symbols,
        n_genes=args.n_genes,
        tissue=args.tissue,
        neighbourhood=False if args.each_cell else None,
    )
    genes = adata.uns[C.QUERY_KEY]["genes"].head(10)
    genes = genes[genes["weight"] >= 0.01]  # the genes that weigh in, not those listed at ~0
    top = ", ".join(f"{gene} ({weight:.2f})" for gene, weight in zip(genes["gene"], genes["weight"], strict=True))
    if args.plot is not None:  # a panel per section of a joint run
        library_key = _library_key(adata)
        pl.query(adata, library_key=library_key, vmin=args.vmin, vmax=args.vmax, show=False, save=str(args.plot))
    if args.output is not None:
        _write_h5ad(adata, args.output, compression="gzip")
    spots = _observations(adata)
    spots += " (their neighbourhoods)" if adata.uns[C.QUERY_KEY]["params"]["neighbourhood"] else ""
    print(f"semst-sc: query {args.text.strip()!r} on {adata.n_obs} {spots}; top genes: {top}{_written(args)}")
    return 0


def _annotate(args) -> int:
    _check_input(args.input, folder_ok=False)
    if args.plot is not None:
        _check_output(args.plot, "--plot", tuple(f".{f}" for f in PLOT_FORMATS))
    if args.output is not None:
        _check_output(args.output, "--output", (".h5ad",))
    check_gene_text_path(args.gene_text, "--gene-text", GENE_TEXT_KINDS)
    _setup(args)
    from . import pl
    from .tl._catalogue import check_tissue

    check_tissue(args.tissue)  # an unknown tissue fails before the data are read
    adata = _read_h5ad(args.input)
    if args.domain_key not in adata.obs:
        raise KeyError(
            f"obs['{args.domain_key}'] not found in {args.input}: give the output of semst-sc run, or name the obs "
            f"column of the domains with --domain-key (obs columns: {list(adata.obs.columns)})"
        )
    args.gene_symbols = _gene_symbols(adata, args)
    _check_can_annotate(adata, args.gene_symbols, args.domain_key)
    _name_domains(adata, args, args.domain_key)  # an earlier annotation is replaced
    if args.plot is not None:
        pl.domain_report(adata, library_key=_library_key(adata), show=False, save=str(args.plot))
    if args.output is not None:
        _write_h5ad(adata, args.output, compression="gzip")
    n = len(adata.uns[C.ANNOTATION_KEY]["domains"])
    print(f"semst-sc: {n} domains of {adata.n_obs} {_observations(adata)} named: {_names(adata)}{_written(args)}")
    return 0


def _names(adata) -> str:
    """Return the domains with the names tl.annotate_domains gave them: ``'0 = white matter, 1 = ...'``."""
    domains = adata.uns[C.ANNOTATION_KEY]["domains"]
    return ", ".join(f"{domain} = {name}" for domain, name in zip(domains["domain"], domains["name"], strict=True))


def _gene_symbols(adata, args) -> str | None:
    """Return ``--gene-symbols``, else the var column of symbols that ``run`` (its semantic step or names) recorded."""
    from ._utils import params_of

    if args.gene_symbols is not None:
        return args.gene_symbols
    for key in (C.uns_key(C.SEMANTIC_KEY), C.ANNOTATION_KEY):
        column = params_of(adata.uns.get(key)).get("gene_symbols")
        if column and column not in adata.var:
            raise KeyError(
                f"var['{column}'], the gene symbols recorded in uns['{key}'], is not in {args.input}: give the var "
                f"column with gene symbols with --gene-symbols (var columns: {list(adata.var.columns)})"
            )
        if column:
            return column
    return None


def _library_key(adata) -> str | None:
    """Return the obs column of the sections ``run`` fitted jointly (a panel each in a plot), ``None`` for one."""
    from ._utils import params_of

    library_key = params_of(adata.uns.get(C.PREPARE_KEY)).get("library_key") or None
    return library_key if library_key in adata.obs else None


def _observations(adata) -> str:
    """Return what the observations are, as ``run`` modelled them: ``'cells'`` or ``'spots'``."""
    from ._utils import params_of

    return "cells" if params_of(adata.uns.get(C.PREPARE_KEY)).get("resolution") == "cell" else "spots"


def _written(args) -> str:
    """Return the end of a result line: the files written (``--plot``, ``--output``), ``''`` when none."""
    written = [str(path) for path in (args.plot, args.output) if path is not None]
    return f" -> {', '.join(written)}" if written else ""


def _train(args) -> int:
    _check_input(args.input, folder_ok=False)
    _check_output(args.output, "--output", (".h5ad", ".npy"))
    if args.minibatch == "off" and (args.minibatch_size is not None or args.distributed):
        raise ValueError("--minibatch-size and --distributed train on mini-batches: leave out --minibatch off")
    if args.minibatch_size is not None and args.minibatch_size < 2:
        raise ValueError(f"--minibatch-size must be at least 2 spots, got {args.minibatch_size}")
    from .nn import get_encoder
    from .nn._distributed import check_process_group

    if args.encoder != "auto":
        get_encoder(args.encoder)
    if args.distributed:
        check_process_group()  # before the input is read
    _setup(args)

    from . import tl

    adata = _read_h5ad(args.input)
    train_kwargs = {"minibatch": {"auto": "auto", "on": True, "off": False}[args.minibatch]}
    train_kwargs["distributed"] = args.distributed
    if args.minibatch_size is not None:
        train_kwargs["minibatch_size"] = args.minibatch_size
    tl.semst(
        adata,
        encoder=args.encoder,
        train_kwargs=train_kwargs,
        n_epochs=args.epochs,
        semantic_key=None if args.no_semantics else C.SEMANTIC_KEY,
        rng=args.seed,
    )
    if int(os.environ.get("RANK", 0)) != 0:  # every process holds the embedding; the first one writes it
        return 0
    if args.output.suffix.lower() == ".npy":
        _write_file(args.output, lambda partial: _save_npy(partial, adata.obsm[C.EMBEDDING_KEY]))
    else:
        dropped = _drop_domains_of_earlier_embedding(adata)
        _write_h5ad(adata, args.output)
    world_size = adata.uns[C.uns_key(C.EMBEDDING_KEY)]["params"]["world_size"]
    print(f"semst-sc: embedded {adata.n_obs} spots ({world_size} process(es)) -> {args.output}")
    if args.output.suffix.lower() != ".npy" and dropped:
        print(
            f"semst-sc: warning: left out {', '.join(dropped)}: made from the input's embedding, not this one; "
            "cluster again",
            file=sys.stderr,
        )
    return 0


def _drop_domains_of_earlier_embedding(adata) -> list[str]:
    """Remove the domains that ``tl.cluster`` made from the embedding just replaced, their refinements and names."""
    from ._utils import params_of

    def params(key):
        return params_of(adata.uns.get(key))

    domains = {key for key in adata.obs if params(key).get("use_rep") == C.EMBEDDING_KEY and "method" in params(key)}
    domains |= {key for key in adata.obs if params(key).get("domain_key") in domains and "n_changed" in params(key)}
    return _drop_domains_and_names(adata, domains, drop_domains=True)


def _drop_domains_and_names(adata, domains: set[str], *, drop_domains: bool) -> list[str]:
    """Remove the names (``tl.annotate_domains``' column and ``uns`` entry) of ``domains``, and the domains if asked.

    Returns what was removed, as ``obs['...']`` / ``uns['...']``.
    """
    from ._utils import names_column, params_of

    annotations = [
        key
        for key in adata.uns
        if key.endswith("_annotation") and params_of(adata.uns.get(key)).get("domain_key") in domains
    ]
    columns = [*(sorted(domains) if drop_domains else []), *(names_column(key, adata.uns[key]) for key in annotations)]
    entries = [*(sorted(domains) if drop_domains else []), *annotations]
    dropped = [f"obs['{key}']" for key in columns if key in adata.obs]
    dropped += [f"uns['{key}']" for key in entries if key in adata.uns]
    adata.obs = adata.obs.drop(columns=[key for key in columns if key in adata.obs])
    for key in entries:
        adata.uns.pop(key, None)
    return dropped


def _demo(args) -> int:
    if args.size < 4:  # 16 spots: the fewest the expression graph (14 neighbours per spot) can be built on
        raise ValueError(f"--size must be at least 4 (16 spots, for the neighbour graphs), got {args.size}")
    _check_output(args.output_dir / "demo.h5ad", "--output-dir", (".h5ad",))
    _setup(args)
    from . import datasets, metrics, pl
    from ._pipeline import run_pipeline

    adata = datasets.simulate_tissue(args.size, args.size, rng=args.seed)
    n_domains = adata.obs["domain"].nunique()
    print(f"semst-sc demo: simulated {adata.n_obs} spots x {adata.n_vars} genes, {n_domains} domains")
    run_pipeline(adata, n_domains, rng=args.seed)
    scores = metrics.evaluate(adata, "domain")
    pl.domains(
        adata,
        color=["domain", C.DOMAIN_KEY],
        title=["simulated truth", "SemST domains"],
        show=False,
        save=str(args.output_dir / "domains.png"),
    )
    _write_h5ad(adata, args.output_dir / "demo.h5ad")
    print(f"ARI = {scores['ari']:.3f}  NMI = {scores['nmi']:.3f}  PAS = {scores['pas']:.3f}")
    print(f"wrote {args.output_dir / 'demo.h5ad'} and {args.output_dir / 'domains.png'}")
    return 0
