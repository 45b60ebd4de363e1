"""The semantic step: back-ends (tiny local decoder LLM, gene table, objects), gene knowledge, cache, symbols."""

import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import scanpy
from fakes import CountingEncoder

import semst_sc as sst
from semst_sc.pp._gene_semantics import PROMPT
from semst_sc.semantics import (
    GeneTable,
    ObjectEncoder,
    SemanticCache,
    TextEncoder,
    _cache,
    _sentence_transformer,
    load_text_encoder,
)


@pytest.fixture
def prepared(tissue):
    sst.pp.prepare(tissue, n_top_genes=60)
    return tissue


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SEMST_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def settings():
    """``sst.settings``; afterwards its cache folder back to the default (``$SEMST_CACHE_DIR``), progress as it was."""
    progress = sst.settings.progress
    yield sst.settings
    sst.settings.cache_dir = None
    sst.settings.progress = progress


@pytest.fixture
def logged_warnings(monkeypatch):
    """The messages of ``scanpy.logging.warning`` during the test."""
    seen = []
    monkeypatch.setattr(scanpy.logging, "warning", lambda msg, *args, **kwargs: seen.append(msg))
    return seen


def _with_identity(identity):
    encoder = CountingEncoder()
    encoder.identity = identity
    return encoder


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    """A randomly initialised 2-layer Llama-style decoder with a word-level tokenizer, saved locally."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_decoder")
    words = PROMPT + " Highly expressed genes: RELN CUX2 MBP PLP1 GFAP reelin myelin basic protein"
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]").save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


# --- Hugging Face decoder back-end ---------------------------------------------------------------------------


def test_decoder_is_detected_and_mean_pools_the_last_hidden_state(tiny_decoder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    encoder = load_text_encoder(str(tiny_decoder), progress=False)
    assert encoder.backend == "hf" and encoder.revision and encoder.identity
    texts = ["Highly expressed genes: RELN, MBP", "myelin basic protein", "GFAP"]
    vectors = encoder.encode(texts, batch_size=2)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    # by hand, one text at a time (no padding): mean of the last hidden state over all tokens
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_decoder), AutoModel.from_pretrained(tiny_decoder).eval()
    for text, vector in zip(texts, vectors, strict=True):
        with torch.no_grad():
            hidden = model(**tokenizer([text], return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(vector, hidden.mean(0).numpy(), atol=1e-5)
    # padding in a batch does not change a text's vector
    np.testing.assert_allclose(encoder.encode(texts[::-1], batch_size=3)[::-1], vectors, atol=1e-5)


def test_decoder_gene_pooling_and_hf_prefix(tiny_decoder):
    text = [f"{PROMPT} Highly expressed genes: RELN, MBP"]
    mean = load_text_encoder(f"hf:{tiny_decoder}", progress=False).encode(text)
    genes = load_text_encoder(str(tiny_decoder), progress=False, pooling="genes")
    assert genes.identity != load_text_encoder(str(tiny_decoder), progress=False).identity
    assert not np.allclose(genes.encode(text), mean)


def _identities_on_threads(encoder, monkeypatch) -> set[str]:
    """The encoder's cache identities on 1 and 2 CPU threads (settings.n_threads restored after the test)."""
    identities = set()
    for threads in (1, 2):
        monkeypatch.setattr(sst.settings, "n_threads", threads)
        identities.add(encoder.identity)
    return identities


def test_decoder_cache_identity_names_the_device_and_threads(tiny_decoder, monkeypatch):
    """A GPU runs the decoder in bfloat16, the CPU in float32 on so many threads: their caches must not mix."""
    encoder = load_text_encoder(str(tiny_decoder), progress=False)
    identities = _identities_on_threads(encoder, monkeypatch)
    monkeypatch.setattr(type(sst.settings), "resolve_device", lambda self, device=None: "cuda")
    identities.add(encoder.identity)
    assert len(identities) == 3 and encoder.identity.endswith(":cuda")


def test_gene_semantics_with_decoder_both_modes(prepared, tiny_decoder, cache, tmp_path):
    for mode in ("symbols", "genes"):
        a = sst.pp.gene_semantics(prepared, model=str(tiny_decoder), mode=mode, top_k=3, copy=True)
        b = sst.pp.gene_semantics(prepared, model=str(tiny_decoder), mode=mode, top_k=3, copy=True)
        assert a.obsm["X_semantic"].shape == (prepared.n_obs, 32)
        np.testing.assert_array_equal(a.obsm["X_semantic"], b.obsm["X_semantic"])
        params = b.uns["semantic"]["params"]
        assert params["backend"] == "hf" and params["revision"] and params["pooling"] == "mean"
        assert params["cache_hits"] == params["n_texts"] > 0
        assert params["prompt"] == (PROMPT if mode == "symbols" else "")
        b.write_h5ad(tmp_path / "semantic.h5ad")  # the recorded params are h5ad-writable


def test_a_decoder_passed_as_model_records_its_own_pooling(prepared, tiny_decoder):
    encoder = load_text_encoder(str(tiny_decoder), pooling="genes", progress=False)
    out = sst.pp.gene_semantics(prepared, model=encoder, top_k=3, copy=True)  # pooling= left at "mean"
    assert out.uns["semantic"]["params"]["pooling"] == "genes"


def test_bad_backend_and_pooling(prepared):
    with pytest.raises(ValueError, match="backend must be"):
        sst.pp.gene_semantics(prepared, model=CountingEncoder(), backend="openai")
    with pytest.raises(ValueError, match="pooling must be"):
        sst.pp.gene_semantics(prepared, model=CountingEncoder(), pooling="max")


# --- precomputed gene vectors and objects --------------------------------------------------------------------


def test_gene_table_is_weighted_mean_of_its_rows(prepared):
    hvg = prepared.var["semst_modelled"].to_numpy()
    symbols = prepared.var_names[hvg]
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(len(symbols) - 5, 4)), index=symbols[5:])  # first 5 genes absent
    sst.pp.gene_semantics(prepared, model=table, top_k=3)
    params = prepared.uns["semantic"]["params"]
    assert params["backend"] == "table" and params["n_genes_not_in_table"] == 5 and params["n_texts"] == 0
    x = prepared.layers["semst_scaled"][:, hvg].toarray()
    x[:, :5] = -np.inf  # absent genes are never among the top genes
    top = np.argsort(-x[7], kind="stable")[:3]
    expected = (x[7, top, None] * table.loc[symbols[top]].to_numpy()).sum(0) / x[7, top].sum()
    np.testing.assert_allclose(prepared.obsm["X_semantic"][7], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="mode='genes'"):
        sst.pp.gene_semantics(prepared, model=table, mode="symbols")
    before = prepared.obsm["X_semantic"].copy()
    with pytest.raises(ValueError, match="model is a table of gene vectors.*leave gene_text out"):
        sst.pp.gene_semantics(prepared, model=table, gene_text={symbols[0]: "myelin"})  # was read and ignored
    np.testing.assert_array_equal(prepared.obsm["X_semantic"], before)


def test_object_without_encode_is_rejected(prepared):
    with pytest.raises(TypeError, match="encode"):
        sst.pp.gene_semantics(prepared, model=42)


# --- gene knowledge ------------------------------------------------------------------------------------------


def test_gene_text_mapping_in_both_modes(prepared):
    hvg = prepared.var_names[prepared.var["semst_modelled"].to_numpy()]
    described = {g: f"{g.lower()} protein. Does things in the brain." for g in hvg[:30]}
    encoder = CountingEncoder()
    sst.pp.gene_semantics(prepared, model=encoder, gene_text=described)
    params = prepared.uns["semantic"]["params"]
    assert params["gene_text"] == "mapping" and params["gene_text_coverage"] == pytest.approx(30 / 60)
    with_text = [t for t in encoder.seen if ":" in t]
    assert with_text and all(t == f"{t.split(':')[0]}: {described[t.split(':')[0]]}" for t in with_text)
    assert set(encoder.seen) - set(with_text) <= set(hvg[30:])

    encoder = CountingEncoder()
    sst.pp.gene_semantics(prepared, model=encoder, gene_text=described, mode="symbols", top_k=3)
    assert all(t.startswith(PROMPT + " Highly expressed genes: ") for t in encoder.seen)
    assert any(f"{g} ({g.lower()} protein)" in t for t in encoder.seen for g in hvg[:30])


def test_gene_text_dataframe_and_tsv(prepared, tmp_path):
    hvg = prepared.var_names[prepared.var["semst_modelled"].to_numpy()]
    table = pd.DataFrame(
        {"symbol": hvg[:10], "full_name": "some name", "refseq_summary": "A summary.", "go_bp": "biological_process"}
    )
    path = tmp_path / "genes.tsv.gz"
    table.to_csv(path, sep="\t", index=False)
    for gene_text, source in ((table, "DataFrame"), (path, str(path))):
        encoder = CountingEncoder()
        sst.pp.gene_semantics(prepared, model=encoder, gene_text=gene_text)
        assert prepared.uns["semantic"]["params"]["gene_text"] == source
        assert {t for t in encoder.seen if ":" in t} <= {f"{g}: some name. A summary." for g in hvg[:10]}
    with pytest.raises(FileNotFoundError, match="gene_text file"):
        sst.pp.gene_semantics(prepared, model=CountingEncoder(), gene_text=tmp_path / "none.tsv")
    with pytest.raises(ValueError, match="'text' column"):
        sst.pp.gene_semantics(prepared, model=CountingEncoder(), gene_text=pd.DataFrame({"x": [1]}))


def test_gene_text_folder_read_for_the_organism_of_the_symbols(prepared, tmp_path):
    """A folder of gene descriptions, as annotate_domains and query read it ('gene_text file ... not found' before)."""
    hvg = prepared.var_names[prepared.var["semst_modelled"].to_numpy()]
    for organism in ("human", "mouse"):  # each table describes the genes as its organism spells them
        spelled = hvg[:10] if organism == "human" else [g.capitalize() for g in hvg[:10]]
        table = pd.DataFrame({"symbol": spelled, "full_name": f"a {organism} gene", "summary": "", "go_bp": ""})
        table.to_csv(tmp_path / f"{organism}_gene_text.tsv.gz", sep="\t", index=False)
    for symbols, organism in ((prepared, "human"), (prepared.copy(), "mouse")):
        if organism == "mouse":
            symbols.var_names = [g.capitalize() for g in symbols.var_names]
        encoder = CountingEncoder()
        sst.pp.gene_semantics(symbols, model=encoder, gene_text=tmp_path)
        assert symbols.uns["semantic"]["params"]["gene_text"] == f"{tmp_path} ({organism})"  # which file was read
        assert symbols.uns["semantic"]["params"]["gene_text_coverage"] == pytest.approx(10 / 60)
        assert {t.split(": ")[1] for t in encoder.seen if ": " in t} == {f"a {organism} gene."}
    with pytest.raises(FileNotFoundError, match="no human gene descriptions in"):
        sst.pp.gene_semantics(prepared, model=CountingEncoder(), gene_text=tmp_path / "..")


def test_gene_text_lookup_ignores_case(prepared):
    prepared.var_names = [g.capitalize() for g in prepared.var_names]  # mouse-style symbols, human table
    hvg = prepared.var_names[prepared.var["semst_modelled"].to_numpy()]
    encoder = CountingEncoder()
    sst.pp.gene_semantics(prepared, model=encoder, gene_text={hvg[0].upper(): "described"})
    assert f"{hvg[0]}: described" in encoder.seen or hvg[0] not in {t.split(":")[0] for t in encoder.seen}
    assert prepared.uns["semantic"]["params"]["gene_text_coverage"] == pytest.approx(1 / 60)


# --- symbol resolution ---------------------------------------------------------------------------------------


def test_symbols_behind_ensembl_ids_with_gaps_are_counted(tissue):
    symbols = tissue.var_names.to_numpy().astype(object)
    symbols[::10] = np.nan
    tissue.var = tissue.var.drop(columns="gene_symbol").assign(feature_name=symbols)
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    sst.pp.prepare(tissue, n_top_genes=60)
    encoder = CountingEncoder()
    sst.pp.gene_semantics(tissue, model=encoder)
    missing = int(pd.isna(tissue.var.loc[tissue.var["semst_modelled"], "feature_name"]).sum())
    assert tissue.uns["semantic"]["params"]["n_genes_without_symbol"] == missing
    assert not any(t.startswith("ENSG") or t == "nan" for t in encoder.seen)
    sst.pp.gene_semantics(tissue, model=CountingEncoder(), gene_symbols="feature_name")
    with pytest.raises(KeyError, match="var\\['nope'\\]"):
        sst.pp.gene_semantics(tissue, model=CountingEncoder(), gene_symbols="nope")


def test_ensembl_ids_without_symbol_column_raise(tissue):
    tissue.var = tissue.var.drop(columns="gene_symbol")
    tissue.var_names = [f"ENSG{i:011d}" for i in range(tissue.n_vars)]
    sst.pp.prepare(tissue, n_top_genes=40)
    with pytest.raises(ValueError, match="gene_symbols="):
        sst.pp.gene_semantics(tissue, model=CountingEncoder())


# --- the cache -----------------------------------------------------------------------------------------------


def test_cache_hit_skips_the_encoder(prepared, cache):
    first, second = _with_identity("fake-v1"), _with_identity("fake-v1")
    a = sst.pp.gene_semantics(prepared, model=first, copy=True)
    b = sst.pp.gene_semantics(prepared, model=second, copy=True)
    assert first.seen and not second.seen
    np.testing.assert_array_equal(a.obsm["X_semantic"], b.obsm["X_semantic"])
    params = b.uns["semantic"]["params"]
    assert params["cache_hits"] == params["n_texts"] and params["cache_dir"] == str(cache)
    # overlapping run: only the new texts are embedded
    third = _with_identity("fake-v1")
    sst.pp.gene_semantics(prepared, model=third, top_k=20)
    assert set(third.seen).isdisjoint(first.seen)


def test_cache_misses_on_other_model_prompt_or_mode(prepared, cache, tmp_path):
    sst.pp.gene_semantics(prepared, model=_with_identity("fake-v1"))
    other = _with_identity("fake-v2")
    sst.pp.gene_semantics(prepared, model=other)
    assert other.seen
    shard = SemanticCache(tmp_path / "c", "m", "prompt A", "symbols")
    shard.get_or_compute(["x"], lambda t: np.ones((len(t), 2)))
    calls = []
    for key in (("m", "prompt B", "symbols"), ("m", "prompt A", "genes"), ("n", "prompt A", "symbols")):
        SemanticCache(tmp_path / "c", *key).get_or_compute(["x"], lambda t: calls.append(t) or np.ones((len(t), 2)))
    assert len(calls) == 3


def test_objects_without_identity_and_cache_dir_false_write_nothing(prepared, cache, settings):
    sst.pp.gene_semantics(prepared, model=CountingEncoder())
    settings.cache_dir = False
    sst.pp.gene_semantics(prepared, model=_with_identity("k"))
    assert not cache.exists() or not any(cache.iterdir())
    assert prepared.uns["semantic"]["params"]["cache_dir"] == ""


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered", "other_header"])
def test_corrupt_cache_is_recomputed_not_trusted(tmp_path, damage):
    texts = ["a", "b", "c"]
    shard = SemanticCache(tmp_path, "model", "", "genes")
    good, _ = shard.get_or_compute(texts, lambda t: np.arange(len(t) * 3, dtype=np.float32).reshape(-1, 3))
    raw = shard.path.read_bytes()
    if damage == "garbage":
        shard.path.write_bytes(b"not a cache file at all")
    elif damage == "truncated":
        shard.path.write_bytes(raw[: len(raw) // 2])
    else:
        with np.load(shard.path) as f:
            meta, keys, vectors = json.loads(str(f["meta"])), f["keys"], f["vectors"].copy()
        if damage == "tampered":
            vectors[0, 0] = 1e6
        else:
            meta["model"] = "another model"
        np.savez(shard.path, meta=np.array(json.dumps(meta)), keys=keys, vectors=vectors)
    calls = []
    again, hits = shard.get_or_compute(texts, lambda t: calls.append(t) or good[[texts.index(x) for x in t]])
    assert calls == [texts] and hits == 0
    np.testing.assert_array_equal(again, good)
    assert shard.load()[0].shape == (3,)  # rewritten, valid again


def test_cache_write_is_atomic_and_a_failed_write_keeps_the_vectors(tmp_path, monkeypatch, logged_warnings):
    shard = SemanticCache(tmp_path, "model", "", "genes")
    shard.get_or_compute(["a"], lambda t: np.ones((len(t), 2)))
    before = shard.path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(_cache.np, "savez", broken_savez)
    vectors, hits = shard.get_or_compute(["a", "b"], lambda t: np.full((len(t), 2), 2.0))
    np.testing.assert_array_equal(vectors, [[1, 1], [2, 2]])  # the run goes on with the computed vectors
    assert hits == 1 and "disk full" in logged_warnings[-1] and str(shard.path) in logged_warnings[-1]
    assert shard.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [shard.path.name]  # no temporary file left
    with pytest.raises(RuntimeError):  # a failing model writes nothing either
        SemanticCache(tmp_path / "new", "m", "", "genes").get_or_compute(["x"], _raise)
    assert not (tmp_path / "new").exists()


def test_cache_keeps_what_another_process_stored_meanwhile(tmp_path):
    """Two runs filling one cache folder at once: the last to write dropped the other's new rows."""
    mine, theirs = SemanticCache(tmp_path, "model", "", "genes"), SemanticCache(tmp_path, "model", "", "genes")
    theirs.get_or_compute(["shared"], lambda t: np.zeros((len(t), 2)))

    def compute_while_another_writes(texts):
        theirs.get_or_compute(["theirs"], lambda t: np.full((len(t), 2), 2.0))  # after this run read the file
        return np.ones((len(texts), 2))

    mine.get_or_compute(["shared", "mine"], compute_while_another_writes)
    calls = []
    vectors, hits = mine.get_or_compute(["shared", "mine", "theirs"], lambda t: calls.append(t) or np.ones((1, 2)))
    assert hits == 3 and not calls
    np.testing.assert_array_equal(vectors, [[0, 0], [1, 1], [2, 2]])


def test_cache_keeps_its_newest_rows_up_to_a_bound(tmp_path, monkeypatch):
    """Texts of spots (mode='symbols') are nearly one per cell: the file grew with every slide, read whole each run."""
    monkeypatch.setattr(_cache, "MAX_ROWS", 5, raising=False)
    shard = SemanticCache(tmp_path, "model", "", "symbols")
    shard.get_or_compute(list("abc"), lambda t: np.zeros((len(t), 2)))
    shard.get_or_compute(list("defg"), lambda t: np.ones((len(t), 2)))
    assert len(shard.load()[0]) == 5
    calls = []
    _, hits = shard.get_or_compute(list("cdefg"), lambda t: calls.append(t) or np.ones((len(t), 2)))
    assert hits == 5 and not calls  # the oldest, 'a' and 'b', made room


def test_cache_files_follow_the_umask_and_dead_writes_are_cleared(tmp_path):
    """mkstemp's owner-only mode hid a group's shared cache from the others; a killed write's file stayed."""
    shard = SemanticCache(tmp_path, "model", "", "genes")
    old_tmp = tmp_path / f".{shard.path.name}.abcd1234.npz"
    fresh_tmp = tmp_path / f".{shard.path.name}.efgh5678.npz"  # another process writing now
    for path in (old_tmp, fresh_tmp):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old_tmp, (two_hours_ago, two_hours_ago))
    umask = os.umask(0o022)
    try:
        shard.get_or_compute(["a"], lambda t: np.ones((len(t), 2)))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(shard.path.stat().st_mode) == 0o644
    assert not old_tmp.exists() and fresh_tmp.exists()


def _raise(texts):
    raise RuntimeError("model failed")


def test_default_model_warm_run_does_not_load_weights(prepared, cache, monkeypatch):
    a = sst.pp.gene_semantics(prepared, mode="symbols", top_k=3, copy=True)
    params = a.uns["semantic"]["params"]
    assert params["backend"] == "sentence-transformers" and len(params["revision"]) == 16

    def no_load(*args):
        raise AssertionError("the weights were loaded on a warm run")

    monkeypatch.setattr(_sentence_transformer, "_load_sentence_transformer", no_load)
    b = sst.pp.gene_semantics(prepared, mode="symbols", top_k=3, copy=True)
    np.testing.assert_array_equal(a.obsm["X_semantic"], b.obsm["X_semantic"])


# --- an unusable cache folder (issue 23) ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["env is a file", "env under a file", "settings is a file", "not writable"])
def test_unusable_cache_folder_warns_and_runs_without_the_cache(
    prepared, tmp_path, monkeypatch, settings, logged_warnings, where
):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    folder = blocker / "cache" if where == "env under a file" else blocker
    if where == "not writable":
        if os.geteuid() == 0:
            pytest.skip("root writes to any folder")
        folder = tmp_path / "read_only"
        folder.mkdir(mode=0o500)
    if where == "settings is a file":
        settings.cache_dir = folder
    else:
        monkeypatch.setenv("SEMST_CACHE_DIR", str(folder))
    encoder = _with_identity("fake-v1")
    out = sst.pp.gene_semantics(prepared, model=encoder, copy=True)
    params = out.uns["semantic"]["params"]
    assert encoder.seen and out.obsm["X_semantic"].shape == (prepared.n_obs, 8)
    assert params["cache_dir"] == "" and params["cache_hits"] == 0
    assert len(logged_warnings) == 1 and str(folder) in logged_warnings[0]
    assert "SEMST_CACHE_DIR" in logged_warnings[0] and "sst.settings.cache_dir = False" in logged_warnings[0]
    assert blocker.read_text() == "not a folder"


# --- the protocol --------------------------------------------------------------------------------------------


class _Protocol:
    """A user encoder that implements the whole TextEncoder protocol."""

    name, backend, revision, identity = "my-model", "custom", "r1", "my-model@r1"

    def __init__(self):
        self.calls = []

    def encode(self, texts, *, batch_size=64, progress=False):
        self.calls.append((len(texts), batch_size, progress))
        return CountingEncoder().encode(texts)


def test_an_encoder_implementing_the_protocol_is_used_as_is(prepared, cache, settings):
    encoder = _Protocol()
    assert isinstance(encoder, TextEncoder)
    settings.progress = False
    sst.pp.gene_semantics(prepared, model=encoder, batch_size=7)
    params = prepared.uns["semantic"]["params"]
    assert (params["model"], params["backend"], params["revision"]) == ("my-model", "custom", "r1")
    assert encoder.calls == [(params["n_texts"], 7, False)]  # batch size and settings.progress reach encode
    assert params["cache_dir"] == str(cache)
    again = _Protocol()
    sst.pp.gene_semantics(prepared, model=again)
    assert not again.calls and prepared.uns["semantic"]["params"]["cache_hits"] == params["n_texts"]


def test_object_encoder_identity_and_checked_output(prepared, cache):
    wrapped = ObjectEncoder(CountingEncoder(), identity="v1")
    assert isinstance(wrapped, TextEncoder) and wrapped.identity == "object:v1" and wrapped.backend == "object"
    assert ObjectEncoder(CountingEncoder()).identity is None
    sst.pp.gene_semantics(prepared, model=wrapped)
    assert prepared.uns["semantic"]["params"]["cache_dir"] == str(cache)
    bad = ObjectEncoder(type("Bad", (), {"encode": lambda self, texts: np.ones((len(texts) + 1, 2))})())
    with pytest.raises(ValueError, match="returned shape"):
        bad.encode(["a"])
    with pytest.raises(TypeError, match="encode"):
        ObjectEncoder(42)


def test_gene_table_is_a_text_encoder_of_symbols():
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2), index=["RELN", "Mbp", "GFAP"])
    table = load_text_encoder(frame)
    assert isinstance(table, GeneTable) and isinstance(table, TextEncoder)
    assert table.identity == GeneTable(frame.copy()).identity != GeneTable(frame * 2).identity
    np.testing.assert_array_equal(table.encode(["GFAP", "MBP", "reln"]), [[4, 5], [2, 3], [0, 1]])
    with pytest.raises(KeyError, match="not in the gene-vector table"):
        table.encode(["RELN", "CUX2"])
    with pytest.raises(ValueError, match="columns desc are not numeric"):
        GeneTable(frame.assign(desc=["a", "b", "c"]))
    with pytest.raises(ValueError, match="RELN appear more than once"):
        GeneTable(frame.set_axis(["RELN", "RELN", "GFAP"]))


def test_bundled_default_and_its_identity(monkeypatch):
    encoder = load_text_encoder()
    assert isinstance(encoder, TextEncoder) and encoder.backend == "sentence-transformers"
    device = sst.settings.resolve_device()  # vectors differ in their last digits with the device and threads
    where = f"{sst.settings.resolve_threads()} threads" if device == "cpu" else device
    assert encoder.identity == f"st:sentence-transformers/all-MiniLM-L6-v2@{encoder.revision}:alone:{where}"
    if device == "cpu":  # a cache filled on another thread count is not read
        assert len(_identities_on_threads(encoder, monkeypatch)) == 2
    assert load_text_encoder("all-MiniLM-L6-v2").identity == encoder.identity
    assert load_text_encoder(encoder) is encoder


@pytest.mark.parametrize("where", ["./no_such_folder/model", "~/no_such_model", "file"])
def test_a_model_path_that_is_no_folder_is_named(tmp_path, where):
    """The error said the model could not load offline, and to 'pass the path of a local model folder'."""
    if where == "file":
        where = tmp_path / "model.safetensors"
        where.write_bytes(b"")
    for model in (str(where), f"hf:{where}"):
        with pytest.raises(FileNotFoundError, match=f"model '{where}' is a path but no folder"):
            load_text_encoder(model)


def test_import_loads_no_model_library():
    code = (
        "import sys, semst_sc, semst_sc.semantics; "
        "print(sorted({'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_model_changed_anywhere_in_its_weights_gets_another_fingerprint(tmp_path):
    """Cached vectors are keyed by the fingerprint: weights fine-tuned in their middle must not reuse them."""
    from semst_sc.semantics._hub import fingerprint

    (tmp_path / "config.json").write_text('{"architectures": ["BertModel"]}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(bytes(40 << 20))  # larger than the head and tail once read alone
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before  # the same files, the same fingerprint
    with open(weights, "r+b") as f:  # one byte in the middle, the size unchanged
        f.seek(20 << 20)
        f.write(b"\x01")
    assert fingerprint(tmp_path) != before


def test_a_text_gets_the_same_vector_whatever_else_is_embedded_with_it():
    """The cache mixes vectors of different calls: a text's vector must not depend on the texts beside it."""
    from semst_sc.semantics import load_text_encoder

    encoder = load_text_encoder(None)
    long = "MBP: myelin basic protein. The protein encoded by this gene is a major constituent of the myelin sheath"
    texts = [long, "GFAP", "AQP4: aquaporin 4, a water channel of astrocytes", "PLP1"]
    together = encoder.encode(texts, batch_size=64)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(encoder.encode([text], batch_size=64)[0], together[i])


def test_gene_text_of_the_other_organism_is_warned(monkeypatch):
    """Mouse symbols with gene_text='human' matched the human table ignoring case, without a word."""
    from fakes import scanpy_warnings

    from semst_sc.semantics import _gene_text

    table = pd.DataFrame({"symbol": ["CUX2", "MBP"], "full_name": ["cut like homeobox 2", "myelin basic protein"]})
    monkeypatch.setattr(_gene_text, "gene_descriptions", lambda organism: table)
    logged = scanpy_warnings(lambda: _gene_text.resolve_gene_text("human", ["Cux2", "Mbp"]))
    assert "gene_text='human', but the gene symbols are written as mouse symbols are (Cux2, Mbp, ...)" in logged
    assert "pass gene_text='mouse'" in logged
    assert scanpy_warnings(lambda: _gene_text.resolve_gene_text("human", ["CUX2", "MBP"])) == ""
    assert _gene_text.resolve_gene_text("human", ["Cux2"]).text("Cux2")  # still read, as before
