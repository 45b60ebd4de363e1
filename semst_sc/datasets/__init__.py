"""Readers of platform outputs (Space Ranger, Xenium, MERSCOPE, CosMx, Stereo-seq), the benchmark data, the demo."""

from ._baristaseq import baristaseq
from ._cosmx import read_cosmx
from ._dlpfc import dlpfc
from ._gene_descriptions import gene_descriptions
from ._merfish import merfish_hypothalamus
from ._merscope import read_merscope
from ._mouse_ob import mouse_ob
from ._osmfish import osmfish
from ._paths import default_data_dir
from ._simulate import simulate_tissue
from ._spaceranger import read_spaceranger
from ._stereoseq import read_gem
from ._xenium import read_xenium

__all__ = [
    "default_data_dir",
    "simulate_tissue",
    "dlpfc",
    "read_spaceranger",
    "read_gem",
    "read_xenium",
    "read_merscope",
    "read_cosmx",
    "osmfish",
    "baristaseq",
    "mouse_ob",
    "merfish_hypothalamus",
    "gene_descriptions",
]
