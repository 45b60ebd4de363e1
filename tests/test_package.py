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


def _documented_cli_calls():
    """Every ``semst-sc <command> ...`` (or ``-m semst_sc <command> ...``) of README.md and docs/*.md: (file, text)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text()
        fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
        spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        lines = [line for block in fenced for line in block.replace("\\\n", " ").splitlines()]
        for snippet in lines + [" ".join(span.split()) for span in spans]:
            for call in re.split(r"(?:semst-sc|-m semst_sc)(?=\s)", snippet)[1:]:
                yield path.name, call.split("#")[0].strip()


def test_documented_cli_commands_and_options_exist():
    import argparse

    from semst_sc._cli import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    calls = list(_documented_cli_calls())
    assert {call.split()[0] for _, call in calls if call} >= {"run", "query", "annotate", "train", "demo"}
    for name, call in calls:
        words = call.split()
        if not words or words[0].startswith("-"):  # semst-sc --version
            assert not words or words[0] in parser._option_string_actions, f"{name}: semst-sc {call}"
            continue
        assert words[0] in commands, f"{name}: no subcommand {words[0]!r} (semst-sc {call})"
        options = commands[words[0]]._option_string_actions
        for word in words[1:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--"):
                assert option in options, f"{name}: semst-sc {words[0]} has no {option} (semst-sc {call})"
