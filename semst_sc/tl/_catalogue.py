"""The built-in vocabulary of tissue compartments and cell types that :func:`semst_sc.tl.annotate_domains` names from.

Written for semst_sc from published knowledge (marker genes as reported in reviews and atlases: Maynard et al. 2021
and the Allen Brain Map taxonomies for the cortex, Zeisel et al. 2018 for the mouse nervous system, the Human Protein
Atlas and the Tabula Sapiens for immune, vascular, stromal and epithelial cells, Ståhl et al. 2016 and Tepe et al.
2018 for the olfactory bulb). Symbols are human; mouse genes match them case-insensitively (``Mbp`` = ``MBP``), and
where the mouse ortholog is spelled otherwise (``Trf`` for ``TF``) it follows the human symbol
(:data:`MOUSE_ORTHOLOGS`).
Each entry (a row of ``catalogue.tsv``): the name, where it is found (``found_in``: ``brain`` for the whole brain, a
brain region of :data:`BRAIN_REGIONS`, ``non-neural`` for tissues outside the nervous system, ``any`` for immune,
vascular, stromal and blood cells found everywhere), its kind (``compartment``: a region of tissue that forms a
domain of its own, such as a cortical layer, white matter, a vessel or a lymphoid follicle; ``cell type``: cells
scattered among others, such as interneurons, microglia or T cells, which rarely make up a domain), its marker
symbols (most specific first), one sentence that describes it (what the text model compares with a domain's
markers) and other names it is called by (``also_called``, separated by ``"; "``: the cells found there, common
abbreviations; :func:`semst_sc.tl.query` matches a query with them, ``annotate_domains`` does not read them).
"""

from __future__ import annotations

from importlib.resources import files
from typing import NamedTuple


class Entry(NamedTuple):
    """One compartment or cell type of the catalogue."""

    name: str
    found_in: tuple[str, ...]
    kind: str
    markers: tuple[str, ...]
    description: str
    also_called: tuple[str, ...] = ()

    @property
    def n_listed(self) -> int:
        """How many marker genes the entry lists (a human symbol and its mouse orthologs count once)."""
        return len({g.upper() for g in self.markers} - _ORTHOLOG_SYMBOLS)

    def spelled_for(self, organism: str) -> tuple[str, ...]:
        """Return the markers as ``organism``'s symbols are written, for messages.

        ``"human"``: the human symbols (``TP63``); ``"mouse"``: the mouse orthologs spelled otherwise (``Trp63``) and
        the other symbols capitalised (``Krt5``); each marker once.
        """
        human = [g for g in self.markers if g not in _ORTHOLOGS]
        if organism != "mouse":
            return tuple(human)
        return tuple(mouse for g in human for mouse in MOUSE_ORTHOLOGS.get(g, (g.capitalize(),)))


#: mouse orthologs of catalogue markers spelled otherwise than the human symbol (MGI); each follows its human marker
MOUSE_ORTHOLOGS = {
    "CA1": ("Car1",),
    "CA8": ("Car8",),
    "CA9": ("Car9",),
    "CCL21": ("Ccl21a",),
    "CD24": ("Cd24a",),
    "CHI3L1": ("Chil1",),
    "CYP3A4": ("Cyp3a11",),
    "FCER2": ("Fcer2a",),
    "FCGR3A": ("Fcgr4",),
    "HBA1": ("Hba-a1",),
    "HBA2": ("Hba-a2",),
    "HBB": ("Hbb-bs", "Hbb-bt"),
    "HLA-DQA1": ("H2-Aa",),
    "IGHA1": ("Igha",),
    "LYZ": ("Lyz2",),
    "MT1G": ("Mt1",),
    "SERPINA1": ("Serpina1a",),
    "TF": ("Trf",),
    "TP63": ("Trp63",),
}


_ORTHOLOGS = frozenset(mouse for orthologs in MOUSE_ORTHOLOGS.values() for mouse in orthologs)
_ORTHOLOG_SYMBOLS = frozenset(mouse.upper() for mouse in _ORTHOLOGS)


def _with_orthologs(markers: str) -> tuple[str, ...]:
    return tuple(gene for human in markers.split() for gene in (human, *MOUSE_ORTHOLOGS.get(human, ())))


#: the catalogue, in the order of ``catalogue.tsv`` (beside this module, shipped with the package)
CATALOGUE: tuple[Entry, ...] = tuple(
    Entry(name, tuple(found_in.split(",")), kind, _with_orthologs(markers), description, tuple(also.split("; ")))
    for name, found_in, kind, markers, description, also in (
        line.split("\t") for line in (files(__package__) / "catalogue.tsv").read_text().strip().splitlines()[1:]
    )
)

#: the upper-cased symbols of every entry's markers
MARKER_SYMBOLS = frozenset(gene.upper() for entry in CATALOGUE for gene in entry.markers)

#: brain regions with entries of their own
BRAIN_REGIONS = ("cortex", "hippocampus", "striatum", "thalamus", "hypothalamus", "cerebellum", "olfactory bulb")
#: the values of ``annotate_domains(tissue=...)`` (besides ``"auto"`` and ``None``)
TISSUES = ("brain", *BRAIN_REGIONS, "non-neural")
#: where entries of the nervous system are found
NERVOUS = frozenset({"brain", *BRAIN_REGIONS})


def entries_for(tissue: str | None, *, cell_types: bool = True) -> tuple[Entry, ...]:
    """Return the entries a domain of ``tissue`` may be named after (``None`` or ``"auto"``: all).

    ``"brain"``: every entry but the non-neural ones; a brain region: the entries of that region, of the whole brain
    and of every tissue; ``"non-neural"``: the non-neural entries and those of every tissue. ``cell_types=False``
    keeps the compartments alone.
    """
    check_tissue(tissue)
    kinds = {"compartment", "cell type"} if cell_types else {"compartment"}
    if tissue is None or tissue == "auto":
        return tuple(entry for entry in CATALOGUE if entry.kind in kinds)
    if tissue == "brain":
        keep = {"any", "brain", *BRAIN_REGIONS}
    elif tissue == "non-neural":
        keep = {"any", "non-neural"}
    else:
        keep = {"any", "brain", tissue}
    return tuple(entry for entry in CATALOGUE if keep.intersection(entry.found_in) and entry.kind in kinds)


def check_tissue(tissue: str | None) -> None:
    """Raise a clear error unless ``tissue`` is one of :data:`TISSUES`, ``"auto"`` or ``None``."""
    if tissue is not None and tissue != "auto" and tissue not in TISSUES:
        raise ValueError(f"tissue must be one of {[*TISSUES, 'auto']} or None, got {tissue!r}")


def guess_tissue(best: list[Entry]) -> str | None:
    """Guess the tissue of a slide from its domains' best entries.

    ``"brain"`` when more of them belong to the nervous system than lie outside it, narrowed to a brain region of
    :data:`BRAIN_REGIONS` when more than half of them are that region's (a cortex slice is not named after bulb
    layers, a section spanning cortex, hippocampus and striatum stays ``"brain"``); ``"non-neural"`` when fewer;
    ``None`` (the whole catalogue) on a tie. Entries found anywhere (immune, vascular, stromal) do not count as
    neural or not, but they are among the domains a region needs more than half of.
    """
    neural = sum(bool(NERVOUS.intersection(entry.found_in)) for entry in best)
    other = sum("non-neural" in entry.found_in for entry in best)
    if neural > other:
        return next((r for r in BRAIN_REGIONS if 2 * sum(r in e.found_in for e in best) > len(best)), "brain")
    return "non-neural" if other > neural else None
