"""Precomputed gene vectors (e.g. GenePT): a text encoder whose texts are gene symbols, looked up, never computed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd


class GeneTable:
    """A table of precomputed gene vectors (genes x dimensions, e.g. GenePT), read as a text encoder of symbols.

    :meth:`encode` looks each symbol up (exactly, then ignoring case). In :func:`semst_sc.pp.gene_semantics` a
    table works in ``mode="genes"`` only; genes absent from the table are left out and counted.

    Parameters
    ----------
    table
        DataFrame indexed by gene symbol, one numeric column per dimension, without NaN.
    """

    backend = "table"
    revision = ""

    def __init__(self, table: pd.DataFrame):
        text = [str(c) for c, dtype in table.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
        if text:
            raise ValueError(
                f"a gene-embedding table must hold only numbers (genes x dimensions); columns {', '.join(text[:5])} "
                "are not numeric: drop them, or move the gene symbols into the index (table.set_index(...))"
            )
        values = table.to_numpy(dtype=np.float32)
        if values.ndim != 2 or values.shape[1] == 0 or not np.isfinite(values).all():
            raise ValueError("a gene-embedding table must be a numeric DataFrame (genes x dimensions) without NaN")
        index = table.index.astype(str)
        if index.has_duplicates:
            twice = ", ".join(index[index.duplicated()].unique()[:5])
            raise ValueError(
                f"a gene-embedding table needs one row per gene symbol; {twice} appear more than once: keep one row "
                "each, e.g. table[~table.index.duplicated()]"
            )
        self.rows = {s: i for i, s in enumerate(index)}
        self.upper = {s.upper(): i for i, s in reversed(list(enumerate(index)))}
        self.values = values
        digest = hashlib.sha256(values.tobytes() + "\n".join(index).encode()).hexdigest()[:16]
        self.name = f"table:{len(index)}x{values.shape[1]}:{digest}"

    @property
    def identity(self) -> str:
        """The table's content hash (its :attr:`name`): the same table always gives the same vectors."""
        return self.name

    def lookup(self, symbols: Sequence[str]) -> np.ndarray:
        """Return each symbol's row (exact, then case-insensitive match), -1 when absent.

        Parameters
        ----------
        symbols
            Gene symbols.

        Returns
        -------
        Row indices (int64), -1 for the symbols not in the table.
        """
        return np.array([self.rows.get(str(s), self.upper.get(str(s).upper(), -1)) for s in symbols], dtype=np.int64)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Return the vectors of the gene symbols ``texts``.

        Parameters
        ----------
        texts
            Gene symbols, all in the table (see :meth:`lookup`).
        batch_size
            Unused: a lookup has no batches.
        progress
            Unused.

        Returns
        -------
        A float32 array, one row per symbol.
        """
        rows = self.lookup(texts)
        if (rows < 0).any():
            missing = [str(t) for t, r in zip(texts, rows, strict=True) if r < 0]
            raise KeyError(
                f"{len(missing)} symbols are not in the gene-vector table (e.g. {', '.join(missing[:5])}); "
                "a table embeds only the gene symbols of its index"
            )
        return self.values[rows]

    def __repr__(self) -> str:
        return f"GeneTable({self.name!r})"
