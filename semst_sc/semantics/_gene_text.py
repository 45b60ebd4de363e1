"""Gene knowledge for the semantic step: a description per symbol, from a table, a mapping, a file or a folder."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from scanpy import logging as logg

from .. import _constants as C
from ..datasets._gene_descriptions import format_gene_text, gene_descriptions, normalise_gene_table


class GeneText:
    """Descriptions looked up by symbol (exact, then case-insensitive), with where they came from.

    Parameters
    ----------
    descriptions
        Symbol -> description (the text after ``"SYMBOL: "``).
    short
        Symbol -> short description (the full name) for the symbols-mode prompt.
    source
        What was passed: a path, ``"human"``/``"mouse"``, ``"DataFrame"`` or ``"mapping"``.
    """

    def __init__(self, descriptions: Mapping[str, str], short: Mapping[str, str], source: str):
        self.descriptions = {k: v for k, v in descriptions.items() if v}
        self.short = dict(short)
        self.source = source
        self._upper = {k.upper(): k for k in reversed(list(self.descriptions))}

    def key(self, symbol: str) -> str | None:
        """Return the table's key for ``symbol``, or None when it has no description."""
        return symbol if symbol in self.descriptions else self._upper.get(symbol.upper())

    def text(self, symbol: str) -> str:
        """Return ``"SYMBOL: description"`` (just the symbol when there is none)."""
        key = self.key(symbol)
        return f"{symbol}: {self.descriptions[key]}" if key is not None else symbol

    def label(self, symbol: str) -> str:
        """Return ``"SYMBOL (short description)"`` for the symbols-mode prompt (just the symbol when there is none)."""
        key = self.key(symbol)
        short = self.short.get(key, "") if key is not None else ""
        return f"{symbol} ({short})" if short else symbol


def organism_of(symbols, organism: str | None) -> str:
    """Return ``organism``, guessed from the symbols when ``None``; warn when the symbols are written as the other's.

    Human symbols are upper-case (``MBP``), mouse symbols capitalised (``Mbp``): the guess is the case of most of them,
    unless at least 1% of the symbols have a form found in mouse alone (RIKEN clones such as ``0610007N19Rik``,
    predicted genes such as ``Gm13889``), which marks mouse symbols written in upper case, as some pipelines write them.
    """
    if organism not in ("human", "mouse", None):
        raise ValueError(f"organism must be 'human', 'mouse' or None, got {organism!r}")
    guess, why, examples = _guess(symbols)
    if organism is None:
        logg.info(f"organism guessed from the gene symbols: {guess}{why}")
    elif organism != guess:
        logg.warning(
            f"organism={organism!r}, but the gene symbols are written as {guess} symbols are ({examples}, ...): they "
            f"are read as {organism} genes (the {organism} gene descriptions when gene_text is None or a folder); "
            f"pass organism={guess!r} (or None; CLI: --organism) unless that is meant"
        )
    return organism or guess


def _guess(symbols) -> tuple[str, str, str]:
    """Return the organism the symbols are written for, why (where not their case alone), and three examples."""
    letters = [str(s) for s in symbols if any(c.isalpha() for c in str(s))]
    upper = sum(s == s.upper() for s in letters[:2000])
    guess = "human" if upper >= 0.5 * max(len(letters[:2000]), 1) else "mouse"
    mouse_only = [s for s in letters if _MOUSE_ONLY.match(s)]
    upper_case_mouse = guess == "human" and len(mouse_only) >= max(2, 0.01 * len(letters))
    why = ""
    if upper_case_mouse:
        guess, why = "mouse", f" (upper-case, but {len(mouse_only)} are mouse-only symbols such as {mouse_only[0]})"
    return guess, why, ", ".join(str(s) for s in (mouse_only if upper_case_mouse else list(symbols))[:3])


#: symbol forms of mouse genes alone, in any case (none of NCBI's 77,510 human symbols has one): RIKEN cDNA clones
#: (``0610007N19Rik``, ``A230065H16Rik``) and predicted genes (``Gm13889``)
_MOUSE_ONLY = re.compile(r"^(\d{7}|[A-Z]\d{6})[A-Z]\d{2}RIK$|^GM\d{3,}$", re.IGNORECASE)


def resolve_gene_text(gene_text, symbols=None) -> GeneText:
    """Turn the ``gene_text`` argument of ``gene_semantics`` into a :class:`GeneText`.

    Parameters
    ----------
    gene_text
        ``"human"``/``"mouse"`` (:func:`semst_sc.datasets.gene_descriptions`), a path to a TSV with a ``symbol``
        column and ``text`` or ``full_name``/``summary``/``go_bp`` columns, a folder that
        :func:`~semst_sc.datasets.gene_descriptions` reads (the NCBI files or their derived table; the organism
        guessed from the case of ``symbols``, and named in the source), such a DataFrame (symbol index or column), or a
        mapping symbol -> text.
    symbols
        Keep only the descriptions of these symbols (case-insensitive); ``None`` keeps all.

    Returns
    -------
    The descriptions.
    """
    if isinstance(gene_text, str) and gene_text in ("human", "mouse"):
        guess, _, examples = _guess([str(s) for s in symbols]) if symbols is not None else (gene_text, "", "")
        if guess != gene_text:
            logg.warning(
                f"gene_text={gene_text!r}, but the gene symbols are written as {guess} symbols are ({examples}, ...): "
                f"they are matched to the {gene_text} descriptions ignoring case; pass gene_text={guess!r} unless "
                "that is meant"
            )
        return _from_table(gene_descriptions(gene_text), f"gene_descriptions('{gene_text}')", symbols)
    if isinstance(gene_text, (str, Path)):
        path = Path(gene_text).expanduser()
        if path.is_dir():
            organism = organism_of([str(s) for s in symbols] if symbols is not None else [], None)
            return _from_table(gene_descriptions(organism, path), f"{path} ({organism})", symbols)
        if not path.is_file():
            raise FileNotFoundError(
                f"gene_text file {path} not found: pass a TSV (symbol + text or full_name/summary/go_bp columns), "
                "a folder of the NCBI files, a DataFrame, a dict symbol -> text, or 'human'/'mouse' for "
                "sst.datasets.gene_descriptions()"
            )
        return _from_table(pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False), str(path), symbols)
    if isinstance(gene_text, pd.DataFrame):
        return _from_table(gene_text, "DataFrame", symbols)
    if isinstance(gene_text, (pd.Series, Mapping)):
        items = {str(k): _strip(str(k), "" if pd.isna(v) else str(v)) for k, v in dict(gene_text).items()}
        return GeneText(items, {k: _first_phrase(v) for k, v in items.items()}, "mapping")
    raise TypeError(
        f"gene_text must be 'human'/'mouse', a path, a DataFrame or a mapping symbol -> text, got {type(gene_text)}"
    )


def _from_table(table: pd.DataFrame, source: str, symbols=None) -> GeneText:
    has_text = "text" in table
    table = normalise_gene_table(table)
    if symbols is not None:  # format only what is needed: the full human table has 77k genes
        table = table[table.index.str.upper().isin({str(x).upper() for x in symbols})]
    if has_text:
        texts = table["text"].fillna("").astype(str)
    else:
        texts = pd.Series(
            [
                format_gene_text(s, *r)
                for s, r in zip(table.index, table[["full_name", "summary", "go_bp"]].to_numpy(), strict=True)
            ],
            index=table.index,
        )
    descriptions = {s: _strip(s, t) for s, t in texts.items()}
    names = table["full_name"].str.slice(0, C.GENE_TEXT_SHORT_CHARS)
    short = {s: names[s] or _first_phrase(d) for s, d in descriptions.items()}
    return GeneText(descriptions, short, source)


def _strip(symbol: str, text: str) -> str:
    """Drop a leading ``"SYMBOL:"`` (the symbol is put back with the data's own spelling)."""
    text = text.strip()
    if text == symbol:
        return ""
    return text[len(symbol) + 1 :].strip() if text.upper().startswith(symbol.upper() + ":") else text


def _first_phrase(description: str) -> str:
    return description.split(". ")[0].rstrip(".")[: C.GENE_TEXT_SHORT_CHARS]
