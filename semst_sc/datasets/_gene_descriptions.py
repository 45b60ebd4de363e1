"""Gene descriptions (NCBI full name, RefSeq summary, GO biological processes) for the semantic step."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scanpy import logging as logg

from .. import _constants as C
from ._paths import default_data_dir

_TAXON = {"human": 9606, "mouse": 10090}
_GENE_INFO = {"human": "Homo_sapiens.gene_info.gz", "mouse": "Mus_musculus.gene_info.gz"}
_SUMMARIES = "refseq_gene_summary.rds"
_GENE2GO = "gene2go.gz"
_NCBI = "https://ftp.ncbi.nlm.nih.gov/gene/DATA/"
_URLS = {
    _GENE_INFO["human"]: _NCBI + "GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz",
    _GENE_INFO["mouse"]: _NCBI + "GENE_INFO/Mammalia/Mus_musculus.gene_info.gz",
    _GENE2GO: _NCBI + "gene2go.gz",
    # RefSeq summaries as packaged by GeneSummary (NCBI has no bulk summary file); pinned commit
    _SUMMARIES: "https://raw.githubusercontent.com/jokergoo/GeneSummary/"
    "a86967afaa3d88a1e37731ce92f43690c0332a33/inst/extdata/refseq_gene_summary.rds",
}
_GO_ROOTS = {"biological_process", "molecular_function", "cellular_component"}
_TEXT_COLUMNS = ("full_name", "summary", "go_bp")


def gene_descriptions(
    organism: Literal["human", "mouse"] = "human",
    path: str | Path | None = None,
    *,
    download: bool = False,
) -> pd.DataFrame:
    """Load one description per gene symbol, ready for ``sst.pp.gene_semantics(adata, gene_text=...)``.

    Read, in this order: the derived table ``{path}/{organism}_gene_text.tsv.gz`` (or ``path`` itself
    when it is a file); else build it from the NCBI files in ``path``: ``Homo_sapiens.gene_info.gz`` /
    ``Mus_musculus.gene_info.gz``, optionally ``refseq_gene_summary.rds`` (RefSeq summaries, GeneSummary
    package) and ``gene2go.gz`` (GO annotations). Mouse genes without a summary (or GO terms) take those of
    the human gene with the upper-cased symbol, when the human table is in the same folder.

    Parameters
    ----------
    organism
        ``"human"`` or ``"mouse"``.
    path
        A folder with the files above, or a derived table file; defaults to
        ``{default_data_dir()}/gene_text``.
    download
        When neither the derived table nor the NCBI files are there, download ``gene_info`` and ``gene2go``
        from the NCBI FTP site and the RefSeq summaries from GitHub into ``path`` (about 1 GB, mostly
        ``gene2go``). Needs internet access.

    Returns
    -------
    DataFrame indexed by gene symbol (unique) with columns ``full_name``, ``summary``, ``go_bp`` (GO
    biological-process names separated by ``; ``), ``go_cc`` (GO cellular components; mouse genes take them
    from the human gene too), ``entrez_id``, ``gene_type``, ``synonyms``, ``ensembl_ids`` where available,
    ``summary_source`` (``organism``, ``"human"`` for a mouse fallback, or ``""``) and ``text``:
    ``"SYMBOL: full name. summary. GO: terms"`` with the summary cut to about 400 characters and the first 10 GO
    terms (a table's own ``text`` column, where it has one, is kept).
    """
    if organism not in _TAXON:
        raise ValueError(f"organism must be 'human' or 'mouse', got {organism!r}")
    path = default_data_dir() / "gene_text" if path is None else Path(path).expanduser()
    table = _read_organism(organism, path, download)
    table["summary_source"] = np.where(table["summary"] != "", organism, "")
    if organism == "mouse":
        folder = path.parent if path.is_file() else path
        try:
            human = _read_organism("human", folder, download=False)
        except FileNotFoundError:
            logg.warning(f"no human gene table in {folder}: mouse genes get no human fallback")
        else:
            _fill_from_human(table, human)
    formatted = [
        format_gene_text(s, *row) for s, row in zip(table.index, table[list(_TEXT_COLUMNS)].to_numpy(), strict=True)
    ]
    given = table["text"].fillna("").astype(str).str.strip() if "text" in table else None  # a table's own texts
    table["text"] = formatted if given is None else np.where(given != "", given, formatted)
    return table


def format_gene_text(symbol: str, full_name: str = "", summary: str = "", go_bp: str = "") -> str:
    """Return ``"SYMBOL: full name. summary. GO: terms"``, bounded (summary ~400 characters, 10 GO terms).

    Parameters
    ----------
    symbol
        Gene symbol.
    full_name
        Official full name.
    summary
        RefSeq / NCBI summary paragraph.
    go_bp
        GO biological-process term names, ``; ``-separated.

    Returns
    -------
    The text; just the symbol when there is no description.
    """
    parts = [str(full_name).strip(), _truncate(str(summary).strip(), C.GENE_TEXT_SUMMARY_CHARS)]
    terms = [t.strip() for t in str(go_bp).split(";") if t.strip() and t.strip() not in _GO_ROOTS]
    if terms:
        parts.append("GO: " + "; ".join(terms[: C.GENE_TEXT_GO_TERMS]))
    parts = [p.rstrip(".") for p in parts if p]
    return f"{symbol}: {'. '.join(parts)}." if parts else str(symbol)


def normalise_gene_table(table: pd.DataFrame) -> pd.DataFrame:
    """Index by unique symbol; text columns as str, ``summary`` from ``refseq_summary``, GO root terms dropped.

    Parameters
    ----------
    table
        A table with a ``symbol`` column (or a symbol index) and any of the description columns.

    Returns
    -------
    The cleaned table; among duplicated symbols the row with a summary (then GO terms) is kept.

    Raises
    ------
    ValueError
        When the table has neither a ``symbol`` column nor an index of its own (row numbers), or no description
        column (``text``, ``full_name``, ``summary``, ``go_bp``).
    """
    table = table.rename(columns={"refseq_summary": "summary", "description": "full_name"})
    if "text" not in table and not set(_TEXT_COLUMNS) & set(table.columns):
        raise ValueError(
            f"the gene table has no description column (its columns: {', '.join(map(str, table.columns))}): it needs "
            "a 'text' column or full_name / summary / go_bp columns (refseq_summary and description are read too)"
        )
    if "symbol" in table.columns:
        table = table.set_index("symbol")
    elif isinstance(table.index, pd.RangeIndex):  # row numbers: a file read with no column named symbol
        raise ValueError(
            f"the gene table has no 'symbol' column (its columns: {', '.join(map(str, table.columns))}): name the "
            "column of gene symbols 'symbol', or index a DataFrame by symbol"
        )
    table.index = table.index.astype(str)
    table.index.name = "symbol"
    for column in _TEXT_COLUMNS:
        values = table[column] if column in table else pd.Series("", index=table.index)
        table[column] = values.fillna("").astype(str).replace("-", "")
    table["go_bp"] = ["; ".join(t for t in s.split("; ") if t and t not in _GO_ROOTS) for s in table["go_bp"]]
    score = (table["summary"] != "").astype(int) * 2 + (table["go_bp"] != "").astype(int)
    order = np.argsort(-score.to_numpy(), kind="stable")
    keep = np.sort(order[~table.index[order].duplicated()])
    table = table.iloc[keep]
    return table[table.index != ""]


def _read_organism(organism: str, path: Path, download: bool) -> pd.DataFrame:
    if path.is_file():
        return normalise_gene_table(_read_tsv(path))
    derived = path / f"{organism}_gene_text.tsv.gz"
    if derived.is_file():
        return normalise_gene_table(_read_tsv(derived))
    if not (path / _GENE_INFO[organism]).is_file() and download:
        _download(organism, path)
    if (path / _GENE_INFO[organism]).is_file():
        return normalise_gene_table(_build_from_ncbi(organism, path))
    raise FileNotFoundError(
        f"no {organism} gene descriptions in {path}: expected {derived.name} or {_GENE_INFO[organism]} "
        f"(+ {_SUMMARIES}, {_GENE2GO}). Pass path= to the folder that holds them, set SEMST_DATA_DIR, "
        f"or call gene_descriptions({organism!r}, path=..., download=True) to fetch them from NCBI"
    )


def _read_tsv(path: Path) -> pd.DataFrame:
    with _reading(path):
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the errors of reading a damaged file (a truncated or corrupt gzip, ...) into one that names the file."""
    try:
        yield
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(
            f"cannot read the gene-description file {path} ({type(error).__name__}: {error}); if it is damaged (e.g. "
            "a download cut short), delete it and fetch it again, or pass path= to a folder with good copies"
        ) from None


def _build_from_ncbi(organism: str, folder: Path) -> pd.DataFrame:
    """Assemble the table from NCBI ``gene_info``, the RefSeq summaries and ``gene2go`` (the last two optional)."""
    info = _read_tsv(folder / _GENE_INFO[organism])
    missing = [c for c in ("Symbol", "GeneID", "description", "type_of_gene", "Synonyms", "dbXrefs") if c not in info]
    if missing:
        raise ValueError(
            f"{folder / _GENE_INFO[organism]} lacks NCBI gene_info's columns {missing} (it has "
            f"{list(info.columns)[:8]}): give the file as NCBI writes it (its header starts '#tax_id')"
        )
    table = pd.DataFrame(
        {
            "symbol": info["Symbol"],
            "entrez_id": info["GeneID"],
            "full_name": info["description"],
            "gene_type": info["type_of_gene"],
            "synonyms": info["Synonyms"],
            "ensembl_ids": [
                "|".join(x[8:] for x in refs.split("|") if x.startswith("Ensembl:")) for refs in info["dbXrefs"]
            ],
        }
    )
    if (folder / _SUMMARIES).is_file():
        import rdata

        summaries = rdata.read_rds(folder / _SUMMARIES)
        summaries = summaries[summaries["Taxon_ID"].astype(int) == _TAXON[organism]]
        summaries = summaries.dropna(subset=["Gene_ID", "Gene_summary"]).drop_duplicates("Gene_ID")
        by_id = pd.Series(summaries["Gene_summary"].to_numpy(), index=summaries["Gene_ID"].astype(int).astype(str))
        table["summary"] = table["entrez_id"].map(by_id).fillna("")
    else:
        logg.warning(f"{folder / _SUMMARIES} not found: gene descriptions without RefSeq summaries")
    if (folder / _GENE2GO).is_file():
        go = _read_gene2go(folder / _GENE2GO, _TAXON[organism])
        for column, terms in go.items():
            table[column] = table["entrez_id"].map(terms).fillna("")
    return table


def _read_gene2go(path: Path, taxon: int) -> dict[str, pd.Series]:
    """Return ``; ``-joined GO term names per Entrez id: ``go_bp`` (processes), ``go_cc`` (components); no ``NOT``."""
    with _reading(path):
        go = pd.concat(
            chunk[
                (chunk["#tax_id"] == taxon)
                & chunk["Category"].isin(["Process", "Component"])
                & ~chunk["Qualifier"].str.startswith("NOT")
            ]
            for chunk in pd.read_csv(path, sep="\t", chunksize=1_000_000, dtype={"GeneID": str}, keep_default_na=False)
        ).drop_duplicates(["GeneID", "GO_term", "Category"])
    return {
        column: part.groupby("GeneID", sort=False)["GO_term"].agg("; ".join)
        for column, part in (("go_bp", go[go["Category"] == "Process"]), ("go_cc", go[go["Category"] == "Component"]))
    }


def _fill_from_human(mouse: pd.DataFrame, human: pd.DataFrame) -> None:
    """Give mouse genes without a summary / GO terms those of the human gene with the upper-cased symbol."""
    upper = mouse.index.str.upper()
    for column in ("summary", "go_bp", "go_cc"):
        if column not in human:
            continue
        if column not in mouse:
            mouse[column] = ""
        donor = human[column].reindex(upper).fillna("").to_numpy()
        empty = (mouse[column] == "").to_numpy() & (donor != "")
        mouse.loc[empty, column] = donor[empty]
        if column == "summary":
            mouse.loc[empty, "summary_source"] = "human"
    n = int((mouse["summary_source"] == "human").sum())
    logg.info(f"{n} mouse genes take the RefSeq summary of their upper-cased human symbol")


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a sentence end, else a word end."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = head.rfind(". ")
    if cut >= limit // 2:
        return head[: cut + 1]
    return head.rsplit(" ", 1)[0] + "..."


def _download(organism: str, folder: Path) -> None:
    """Fetch the NCBI files (and, for mouse, the human gene_info for the fallback) into ``folder``."""
    names = [_GENE_INFO[organism], _SUMMARIES, _GENE2GO] + ([_GENE_INFO["human"]] if organism == "mouse" else [])
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / name
        if target.is_file():
            continue
        logg.warning(f"downloading {_URLS[name]} to {target}")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        try:
            with urllib.request.urlopen(_URLS[name], timeout=60) as response, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
            if name.endswith(".gz"):
                with gzip.open(tmp) as check:
                    check.read(1)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
