"""Package structure: the scanpy-style signature rules of CONVENTIONS.md."""

import inspect

import pytest

import semst_sc as sst

WRITERS = [
    sst.pp.prepare,
    sst.pp.spatial_graph,
    sst.pp.feature_graph,
    sst.pp.gene_semantics,
    sst.tl.semst,
    sst.tl.cluster,
    sst.tl.refine,
    sst.tl.annotate_domains,
    sst.tl.query,
    sst.run_pipeline,
]
READERS = [sst.metrics.evaluate, sst.pl.domains, sst.pl.loss, sst.pl.domain_report, sst.pl.query]


@pytest.mark.parametrize("func", WRITERS + READERS, ids=lambda f: f.__qualname__)
def test_signature_rules(func):
    params = list(inspect.signature(func).parameters.values())
    assert params[0].name == "adata"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 3
    assert func.__doc__ and "Parameters" in func.__doc__ and "Returns" in func.__doc__
    assert "{doc_" not in func.__doc__  # every shared snippet (semst_sc._docs) filled in
    documented = func.__doc__.split("Returns")[0]
    for p in params:
        assert p.name in documented, f"{func.__qualname__}: parameter {p.name} is not documented"


@pytest.mark.parametrize("func", WRITERS, ids=lambda f: f.__qualname__)
def test_writers_have_copy_and_key_added(func):
    params = inspect.signature(func).parameters
    assert "copy" in params and params["copy"].default is False
    if func not in (sst.pp.prepare, sst.run_pipeline):
        assert "key_added" in params


def test_public_namespaces():
    assert set(sst.pp.__all__) == {"prepare", "spatial_graph", "feature_graph", "gene_semantics"}
    assert set(sst.tl.__all__) == {"semst", "cluster", "refine", "annotate_domains", "query"}
    assert {"FSM", "SemSTModel", "ZINBDecoder", "GCNEncoder"} <= set(sst.nn.__all__)
    assert {"simulate_tissue", "dlpfc", "osmfish", "read_spaceranger"} <= set(sst.datasets.__all__)
    assert {
        "TextEncoder",
        "load_text_encoder",
        "SentenceTransformerEncoder",
        "DecoderEncoder",
        "GeneTable",
        "ObjectEncoder",
        "SemanticCache",
    } <= set(sst.semantics.__all__)
    assert all(hasattr(sst.semantics, name) for name in sst.semantics.__all__)
    assert sst.__version__


def test_api_page_lists_every_public_function():
    from pathlib import Path

    api = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    for module in ("pp", "tl", "pl", "metrics", "datasets", "nn", "semantics"):
        for name in getattr(sst, module).__all__:
            assert f"{module}.{name}" in api, f"docs/api.md does not list {module}.{name}"
