"""The check of a gene-description path, before any work (light: the CLI runs it before importing scanpy)."""

from __future__ import annotations

from pathlib import Path

from . import _constants as C


def check_gene_text_path(value, option: str, kinds: str) -> None:
    """Raise unless ``value`` (``gene_text``) is not a path, or an existing file, or a folder of gene descriptions.

    ``option`` names the argument in the message (``--gene-text`` or ``gene_text``), ``kinds`` what it may be.
    """
    if not isinstance(value, str | Path) or value in ("human", "mouse"):
        return
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{option} {value} not found: pass {kinds}")
    if path.is_dir() and not any(next(path.glob(pattern), None) for pattern in C.GENE_TEXT_FILES):
        raise FileNotFoundError(
            f"{option} {value} holds no gene descriptions: expected human_gene_text.tsv.gz or mouse_gene_text.tsv.gz, "
            "or NCBI's Homo_sapiens.gene_info.gz or Mus_musculus.gene_info.gz (see sst.datasets.gene_descriptions)"
        )
