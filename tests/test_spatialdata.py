"""run_pipeline on a SpatialData (Xenium, CosMx, Visium HD through spatialdata-io): issue 19, item 5."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fakes import CountingEncoder, make_spatialdata

import semst_sc as sst


def _run(data, **kwargs):
    return sst.run_pipeline(data, 4, model=CountingEncoder(), n_epochs=2, **kwargs)


def test_domains_land_in_the_table():
    sdata = make_spatialdata()
    table = sdata.tables["table"]
    xy, attrs = table.obsm["spatial"].copy(), dict(table.uns["spatialdata_attrs"])
    assert _run(sdata) is None
    assert sdata.tables["table"] is table  # written in place, into the table object the SpatialData holds
    assert table.obs["semst_domain"].nunique() == 4
    assert {"X_semst", "X_semantic"} <= set(table.obsm) and "spatial_connectivities" in table.obsp
    assert {"semst", "semst_domain"} <= set(table.uns) and "semst_modelled" in table.var
    np.testing.assert_array_equal(table.obsm["spatial"], xy)  # the table's own coordinates, as they were
    assert table.uns["spatialdata_attrs"] == attrs and (table.obs["region"] == "cells").all()  # still annotating


@pytest.mark.parametrize("element", ["circles", "points"])
def test_coordinates_are_the_centroids_of_the_annotated_element(element, capfd):
    import scanpy as sc

    sdata = make_spatialdata(element, scale=2.0)  # element rows in reverse order, 'global' = 2 x its coordinates
    table = sdata.tables["table"]
    centres = table.obsm["spatial"].copy()
    del table.obsm["spatial"]
    verbosity, sc.settings.verbosity = sc.settings.verbosity, 2
    logfile, sc.settings.logfile = sc.settings.logfile, sys.stderr  # not a stream an earlier test captured
    try:
        _run(sdata)
    finally:
        sc.settings.verbosity, sc.settings.logfile = verbosity, logfile
    np.testing.assert_allclose(table.obsm["spatial"], 2 * centres)  # matched by instance id, in 'global'
    assert table.obs["semst_domain"].nunique() == 4
    kind = "shapes" if element == "circles" else "points"
    assert f"using the centroids of {kind} 'cells' (coordinate system 'global')" in capfd.readouterr().err


def test_missing_table_or_coordinates_fail_before_any_work(monkeypatch):
    sdata = make_spatialdata()
    for step in (
        sst.pp.prepare,
        sst.pl.domains,
        sst.pl.query,
        sst.pl.domain_report,
        sst.pl.loss,
        lambda data: sst.metrics.evaluate(data, "domain"),
    ):  # the steps, plots and metrics take the table; run_pipeline takes the SpatialData
        with pytest.raises(TypeError, match=r"got SpatialData: pass its table, e.g. sdata.tables\['table'\]"):
            step(sdata)
    work = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: work.append("prepare"))
    with pytest.raises(KeyError, match=r"table 'cells' not found in the SpatialData: its tables are \['table'\]"):
        _run(sdata, table_key="cells")
    table = sdata.tables["table"]
    del table.obsm["spatial"]
    table.obs["cell_id"] += 10_000
    with pytest.raises(ValueError, match=r"400 of its rows annotating shapes 'cells' name no instance of it"):
        _run(sdata)
    del sdata.shapes["cells"]
    with pytest.raises(KeyError, match=r"no obsm\['spatial'\], and the element 'cells' it annotates is not in"):
        _run(sdata)
    del table.uns["spatialdata_attrs"]
    with pytest.raises(KeyError, match=r"no obsm\['spatial'\] and annotates no shapes, points or labels"):
        _run(sdata)
    assert work == [] and "semst_domain" not in table.obs and "spatial" not in table.obsm


def test_copy_returns_a_new_spatialdata_and_leaves_the_input_alone():
    sdata = make_spatialdata()
    table = sdata.tables["table"]
    del table.obsm["spatial"]
    before = table.copy()
    out = _run(sdata, copy=True)
    assert type(out) is type(sdata) and out is not sdata
    result = out.tables["table"]
    assert result is not table and result.obs["semst_domain"].nunique() == 4 and "spatial" in result.obsm
    assert out.shapes["cells"] is sdata.shapes["cells"]  # the other elements are shared, not copied
    assert sdata.tables["table"] is table  # the input: neither its table nor anything in it changed
    for name in ("obs", "var"):
        assert getattr(table, name).equals(getattr(before, name))
    for name in ("obsm", "obsp", "layers", "uns"):
        assert set(getattr(table, name)) == set(getattr(before, name)), name
    # the AnnData pipeline on the table with those coordinates gives the same domains
    before.obsm["spatial"] = result.obsm["spatial"]
    _run(before)
    np.testing.assert_array_equal(before.obs["semst_domain"].to_numpy(), result.obs["semst_domain"].to_numpy())


def test_import_loads_no_spatialdata():
    code = "import sys, semst_sc; semst_sc.run_pipeline; print('spatialdata' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _two_fields_of_view(systems: tuple[str, str]):
    """The simulated cells split into two shapes elements 'fov1' and 'fov2', each in the coordinate system named."""
    import spatialdata as sd
    from spatialdata.models import ShapesModel, TableModel
    from spatialdata.transformations import Identity

    table = make_spatialdata().tables["table"]
    half = table.n_obs // 2
    regions = np.where(np.arange(table.n_obs) < half, "fov1", "fov2")
    shapes = {}
    for region, system in zip(("fov1", "fov2"), systems, strict=True):
        rows = np.flatnonzero(regions == region)
        shapes[region] = ShapesModel.parse(
            table.obsm["spatial"][rows], geometry=0, radius=np.full(len(rows), 5.0),
            index=pd.Index(rows), transformations={system: Identity()},
        )  # fmt: skip
    del table.obsm["spatial"], table.uns["spatialdata_attrs"]
    table.obs["region"] = pd.Categorical(regions)
    table.obs["cell_id"] = np.arange(table.n_obs)
    table = TableModel.parse(table, region=["fov1", "fov2"], region_key="region", instance_key="cell_id")
    return sd.SpatialData(shapes=shapes, tables={"table": table})


def test_elements_in_different_coordinate_systems_are_sections_or_refused(monkeypatch):
    sdata = _two_fields_of_view(("fov1", "fov2"))  # no common frame: the centroids are not comparable
    work = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: work.append("prepare"))
    with pytest.raises(ValueError, match=r"different coordinate systems.*library_key='region'"):
        _run(sdata)
    assert work == []
    monkeypatch.undo()
    _run(sdata, library_key="region")  # each field of view a section: its neighbours found within it
    table = sdata.tables["table"]
    edges = table.obsp["spatial_connectivities"].tocoo()
    regions = table.obs["region"].to_numpy()
    assert (regions[edges.row] == regions[edges.col]).all()
    # another column that splits the cells as the fields of view do
    table.obs["sample"] = table.obs["region"].map({"fov1": "s1", "fov2": "s2"}).astype(str)
    del table.obsm["spatial"]  # written by the run: the centroids are read again
    _run(sdata, library_key="sample")
    del table.obsm["spatial"]
    table.obs["mixed"] = np.arange(table.n_obs) % 2  # sections that span both frames
    with pytest.raises(ValueError, match="different coordinate systems"):
        _run(sdata, library_key="mixed")
    _run(_two_fields_of_view(("global", "global")))  # one frame: one slide


def test_two_samples_of_one_spatialdata_on_top_of_each_other_are_refused(monkeypatch):
    sdata = _two_fields_of_view(("global", "global"))  # as spatialdata.concatenate leaves two samples: each from 0
    table = sdata.tables["table"]
    for region in ("fov1", "fov2"):
        shapes = sdata.shapes[region]
        shapes.geometry = shapes.geometry.translate(-shapes.geometry.x.min(), -shapes.geometry.y.min())
    work = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: work.append("prepare"))
    with pytest.raises(ValueError, match=r"sections 'fov1' and 'fov2' lie on top of each other.*library_key='region'"):
        _run(sdata)
    assert work == [] and "spatial" not in table.obsm
    monkeypatch.undo()
    _run(sdata, library_key="region")  # each sample a section


def test_spatialdata_checks_before_the_work(monkeypatch):
    work = []
    monkeypatch.setattr("semst_sc.pp.prepare", lambda *a, **k: work.append("prepare"))
    sdata = make_spatialdata()
    table = sdata.tables["table"]
    table.obs["region"] = table.obs["region"].astype(str)  # a common edit; the SpatialData no longer validates
    with pytest.raises(ValueError, match="copy=True builds a new SpatialData, and the tables do not validate"):
        _run(sdata, copy=True)
    sdata = make_spatialdata()
    del sdata.tables["table"].obsm["spatial"]
    cells = sdata.shapes["cells"]
    cells.index = np.where(cells.index == 3, 4, cells.index)  # instance 4 twice
    with pytest.raises(ValueError, match=r"shapes 'cells' it annotates has instance ids twice.*first: 4"):
        _run(sdata)
    assert work == []
