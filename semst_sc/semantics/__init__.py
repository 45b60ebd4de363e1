"""Semantics: turning texts into vectors (text encoders, gene-vector tables, gene knowledge and the vector cache).

Everything here satisfies or serves one protocol, :class:`TextEncoder`; :func:`semst_sc.pp.gene_semantics` reads
AnnData and uses it. Importing this package is fast: torch, transformers and sentence-transformers load only with
the model weights.
"""

from ._cache import SemanticCache
from ._decoder import DecoderEncoder
from ._gene_table import GeneTable
from ._gene_text import GeneText, resolve_gene_text
from ._hub import fingerprint
from ._knowledge_tables import go_gene_table, progeny_gene_table
from ._load import load_text_encoder
from ._object import ObjectEncoder
from ._protocol import TextEncoder
from ._sentence_transformer import SentenceTransformerEncoder

__all__ = [
    "TextEncoder",
    "load_text_encoder",
    "SentenceTransformerEncoder",
    "DecoderEncoder",
    "GeneTable",
    "ObjectEncoder",
    "GeneText",
    "resolve_gene_text",
    "SemanticCache",
    "fingerprint",
    "go_gene_table",
    "progeny_gene_table",
]
