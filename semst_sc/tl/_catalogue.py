"""The built-in vocabulary of tissue compartments and cell types that :func:`semst_sc.tl.annotate_domains` names from.

Written for semst_sc from published knowledge (marker genes as reported in reviews and atlases: Maynard et al. 2021
and the Allen Brain Map taxonomies for the cortex, Zeisel et al. 2018 for the mouse nervous system, the Human Protein
Atlas and the Tabula Sapiens for immune, vascular, stromal and epithelial cells, Ståhl et al. 2016 and Tepe et al.
2018 for the olfactory bulb). Symbols are human; mouse genes match them case-insensitively (``Mbp`` = ``MBP``).
Each entry (a row of ``catalogue.tsv``): the name, its marker symbols (most specific first) and one sentence that
describes it (what the text model compares with a domain's markers).
"""

from __future__ import annotations

from importlib.resources import files
from typing import NamedTuple


class Entry(NamedTuple):
    """One compartment or cell type of the catalogue."""

    name: str
    markers: tuple[str, ...]
    description: str


#: the catalogue, in the order of ``catalogue.tsv`` (beside this module, shipped with the package)
CATALOGUE: tuple[Entry, ...] = tuple(
    Entry(name, tuple(markers.split()), description)
    for name, markers, description in (
        line.split("\t") for line in (files(__package__) / "catalogue.tsv").read_text().strip().splitlines()[1:]
    )
)
