"""Save / load: a directory that round-trips exactly and refuses anything altered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayeslabels as bl


@pytest.fixture(scope="module")
def saved(nuts_fit, tmp_path_factory):
    return nuts_fit.save(tmp_path_factory.mktemp("runs") / "fit-01")


def test_round_trip_gives_identical_soft_labels_and_report(nuts_fit, saved):
    loaded = bl.load(saved)
    pd.testing.assert_frame_equal(loaded.soft_labels().to_frame(), nuts_fit.soft_labels().to_frame())
    pd.testing.assert_frame_equal(loaded.annotators(), nuts_fit.annotators())
    assert loaded.check().ok and loaded.check().max_rhat == pytest.approx(nuts_fit.check().max_rhat)
    assert loaded.spec.to_dict() == nuts_fit.spec.to_dict()
    assert loaded.annotations.data_hash == nuts_fit.annotations.data_hash
    np.testing.assert_allclose(loaded.em.posterior, nuts_fit.em.posterior)
    assert loaded.sampling == nuts_fit.sampling


def test_deterministics_are_left_out_of_the_file_and_recomputed_on_load(subtype_fit, tmp_path):
    saved = subtype_fit.save(tmp_path / "fit")
    deterministics = [var.name for var in subtype_fit.model.deterministics]
    with xr.open_datatree(saved / "posterior.nc", engine="h5netcdf") as tree:
        stored = set(tree["posterior"].data_vars)
    assert "cell_confusion" in deterministics and not stored & set(deterministics)
    fitted = subtype_fit.posterior["posterior"]
    free_bytes = sum(fitted[name].nbytes for name in stored)
    assert (saved / "posterior.nc").stat().st_size < 1.5 * free_bytes + 2_000_000  # not the 2.5x of all

    loaded = bl.load(saved)
    for name in deterministics:
        np.testing.assert_allclose(loaded.posterior["posterior"][name], fitted[name], rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(
        loaded.soft_labels().to_frame(), subtype_fit.soft_labels().to_frame(), rtol=0, atol=1e-12
    )
    assert loaded.check().ok == subtype_fit.check().ok


def test_deterministics_the_free_variables_do_not_give_stay_in_the_file(subtype_fit, tmp_path):
    """A posterior edited after sampling (as `Fit.relabel` permutes confusion matrices along the
    true class) is saved as it is: its deterministics are not recomputed from its free variables."""
    from dataclasses import replace

    posterior = subtype_fit.posterior["posterior"].to_dataset()
    confusion = posterior["cell_confusion"].values.copy()  # chain, draw, cell, true, label
    confusion[0] = confusion[0][:, :, ::-1]
    groups = {name: node.to_dataset() for name, node in subtype_fit.posterior.children.items()}
    groups["posterior"] = posterior.assign(cell_confusion=(posterior["cell_confusion"].dims, confusion))
    edited = replace(subtype_fit, posterior=xr.DataTree.from_dict(groups))

    loaded = bl.load(edited.save(tmp_path / "fit"))
    np.testing.assert_array_equal(loaded.posterior["posterior"]["cell_confusion"].values, confusion)


def test_an_em_fit_without_the_models_free_variables_saves_and_loads(tmp_path):
    """One-coin EM keeps its confusion matrices, not the model's free ``accuracy``: nothing to
    recompute them from, so they stay in the file (saving used to fail with KeyError)."""
    fit = bl.fit(bl.datasets.load("bluebirds"), method="em", model="one-coin", use_gold=False)
    loaded = bl.load(fit.save(tmp_path / "fit"))
    np.testing.assert_allclose(loaded.soft_labels().mean, fit.soft_labels().mean, atol=1e-12)


def test_directory_layout(saved):
    names = sorted(p.name for p in saved.iterdir())
    assert names == ["annotations.parquet", "diagnostics.json", "manifest.json", "posterior.nc", "spec.toml"]
    assert json.loads((saved / "diagnostics.json").read_text())["ok"] is True


@pytest.mark.parametrize("name", ["posterior.nc", "annotations.parquet", "spec.toml"])
def test_a_changed_byte_is_refused_naming_the_file(saved, tmp_path, name):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(bl.DataError, match=f"{name} does not match its recorded hash"):
        bl.load(copy)


def test_a_missing_file_is_named(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    (copy / "annotations.parquet").unlink()
    with pytest.raises(bl.DataError, match="missing annotations.parquet"):
        bl.load(copy)


def test_a_fit_saved_by_a_newer_version_is_refused(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["bayeslabels_version"] = "99.0.0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(bl.DataError, match="newer than the installed"):
        bl.load(copy)


def _edit_manifest(directory, change, rehash=True):
    """Apply ``change`` to the manifest; with ``rehash``, record the edited manifest's own hash
    again, as a forger would (the checks of each field must still catch it)."""
    from bayeslabels import persist

    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    if rehash and "manifest_sha256" in manifest:
        manifest["manifest_sha256"] = persist._manifest_hash(manifest)
    path.write_text(json.dumps(manifest))


def _as_format_1(manifest):
    """What bayeslabels wrote before the manifest recorded its own hash."""
    manifest["format_version"] = 1
    del manifest["manifest_sha256"]


def test_a_fit_saved_before_compiled_models_were_reused_still_loads(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    _edit_manifest(copy, _as_format_1)
    _edit_manifest(copy, lambda m: m["sampling"].pop("compiled_reused"))  # the field this version added
    assert bl.load(copy).sampling.compiled_reused is False
    _edit_manifest(copy, lambda m: m["sampling"].update(unknown_setting=1))
    with pytest.raises(bl.DataError, match="sampler settings"):
        bl.load(copy)


def test_saving_over_a_previous_fit_replaces_it_whole(em_fit, nuts_fit, tmp_path):
    target = tmp_path / "fit"
    em_fit.save(target)
    nuts_fit.save(target)
    assert bl.load(target).method == "nuts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]  # no temporaries left


def test_refuses_to_overwrite_a_directory_that_is_not_a_fit(em_fit, tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(bl.DataError, match="not a saved fit"):
        em_fit.save(tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_em_fits_round_trip_too(em_fit, tmp_path):
    loaded = bl.load(em_fit.save(tmp_path / "em"))
    assert loaded.is_point_estimate and loaded.method == "em"
    pd.testing.assert_frame_equal(loaded.soft_labels().to_frame(), em_fit.soft_labels().to_frame())


# --------------------------------------------------------------------------- the manifest, verified


@pytest.fixture(scope="module")
def em_saved(em_fit, tmp_path_factory):
    return em_fit.save(tmp_path_factory.mktemp("em") / "fit")


@pytest.fixture
def em_copy(em_saved, tmp_path):
    import shutil

    return shutil.copytree(em_saved, tmp_path / "copy")


@pytest.mark.parametrize(
    "field",
    [
        "format_version",
        "bayeslabels_version",
        "created_at",
        "method",
        "used_gold",
        "sampling",
        "data_hash",
        "files",
        "manifest_sha256",
    ],
)
def test_a_manifest_missing_a_field_is_one_data_error_naming_it(em_copy, field):
    _edit_manifest(em_copy, lambda m: m.pop(field), rehash=False)
    with pytest.raises(bl.DataError, match=f"field '{field}' is missing") as caught:
        bl.load(em_copy)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("data_hash", "0" * 16, "field 'data_hash' is '0000000000000000' but the saved annotations hash to"),
        ("method", "nuts", "field 'method' is 'nuts' but posterior.nc holds a point estimate"),
        ("method", "gibbs", "field 'method' is 'gibbs', not one of"),
        ("format_version", 3, "field 'format_version' is 3: this bayeslabels reads formats 1 to 2; upgrade"),
        ("format_version", "2", "field 'format_version' is '2', not a whole number"),
        ("used_gold", "yes", "field 'used_gold' is 'yes', not true or false"),
        ("created_at", "yesterday", "field 'created_at' is 'yesterday', not an ISO date-time"),
        ("files", {"spec.toml": "0" * 64}, "field 'files' does not record the sha256 of every file"),
        ("extra", 1, "unknown field 'extra'"),
    ],
)
def test_a_changed_manifest_field_is_refused_even_with_its_hash_redone(em_copy, field, value, message):
    _edit_manifest(em_copy, lambda m: m.update({field: value}))
    with pytest.raises(bl.DataError, match=message):
        bl.load(em_copy)


def test_any_hand_edit_of_the_manifest_is_refused_by_its_own_hash(em_copy):
    _edit_manifest(em_copy, lambda m: m.update(used_gold=not m["used_gold"]), rehash=False)
    with pytest.raises(bl.DataError, match="do not match the manifest's recorded hash"):
        bl.load(em_copy)


def test_a_manifest_of_format_1_without_its_own_hash_loads(em_copy, em_fit):
    _edit_manifest(em_copy, _as_format_1)
    assert bl.load(em_copy).annotations.data_hash == em_fit.annotations.data_hash


# --------------------------------------------------------------------------- where a fit can be saved


def test_save_creates_missing_parent_directories(em_fit, tmp_path):
    target = em_fit.save(tmp_path / "runs" / "2026" / "fit-01")
    assert bl.load(target).method == "em"


def test_a_name_of_255_bytes_saves_and_loads(em_fit, tmp_path):
    target = tmp_path / ("f" * 255)
    em_fit.save(target)
    em_fit.save(target)  # and over itself: the temporary's name is short, whatever the target's
    assert bl.load(target).method == "em"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_saving_onto_a_file_is_refused(em_fit, tmp_path):
    (tmp_path / "fit").write_text("not a directory")
    with pytest.raises(bl.DataError, match="it is a file"):
        em_fit.save(tmp_path / "fit")


@pytest.mark.parametrize("name", bl.models.family_names())
def test_recomputed_deterministics_equal_pymcs_draw_by_draw_ones_for_every_family(name, subtype_sim):
    """The save's vectorised recomputation (every draw in one call of the batched graph) gives
    what ``pm.compute_deterministics`` gives draw by draw, on prior draws of every family."""
    from dataclasses import replace

    import pymc as pm

    from bayeslabels.models import family
    from bayeslabels.persist import _computed_deterministics

    ann = subtype_sim.annotations
    ann = replace(ann, ordered=True) if name.startswith("ordinal") else ann
    chosen = family(name)
    model = (
        chosen.build(ann, features=bl.features.no_features(ann.n_items))
        if chosen.takes_features
        else chosen.build(ann)
    )
    names = [var.name for var in model.deterministics]
    if not names:
        pytest.skip(f"{name} has no deterministics")
    values = pm.draw(model.free_RVs, draws=6, random_seed=1, mode="FAST_COMPILE")
    free = xr.Dataset(
        {
            rv.name: (
                ("chain", "draw", *(f"{rv.name}_{i}" for i in range(v.ndim - 1))),
                v.reshape(2, 3, *v.shape[1:]),
            )
            for rv, v in zip(model.free_RVs, values, strict=True)
        },
        coords={"chain": [0, 1], "draw": [0, 1, 2]},
    )
    got = _computed_deterministics(free, model, names)
    want = pm.compute_deterministics(
        free, model=model, var_names=names, progressbar=False, compile_kwargs={"mode": "FAST_COMPILE"}
    )
    for det in names:
        np.testing.assert_allclose(got[det].values, want[det].values, rtol=1e-12, atol=1e-14)
        assert got[det].dims == want[det].dims


def test_the_ordinal_deterministics_compile_through_jax(subtype_sim):
    """FAST_COMPILE runs log1mexp / softplus element by element in Python (8 minutes for a
    16,000-draw ordinal fit of 825 annotators); the load's recomputation must compile to JAX."""
    from dataclasses import replace

    from bayeslabels.models import family
    from bayeslabels.persist import _batched_deterministics

    model = family("ordinal").build(replace(subtype_sim.annotations, ordered=True))
    function, _ = _batched_deterministics(model, [var.name for var in model.deterministics])
    assert type(function.maker.linker).__name__ == "JAXLinker"


def test_a_loaded_fit_reports_the_check_it_was_saved_with_without_recomputing_it(nuts_fit, saved):
    """diagnostics.json (hash-checked like every file) is the loaded fit's check(): the same
    report, field for field, served without the minutes a long fit's R-hat / ESS pass takes."""
    loaded = bl.load(saved)
    assert "_default_report" in loaded.__dict__  # cached from the file, before any call
    assert loaded.check() == nuts_fit.check()
    assert str(loaded.check()) == str(nuts_fit.check())


def test_a_report_survives_the_json_round_trip_with_its_nan_fields(em_fit):
    from bayeslabels._io import json_safe

    report = em_fit.check()
    again = bl.ConvergenceReport.from_dict(json.loads(json.dumps(json_safe(report.to_dict()))))
    assert np.isnan(again.max_rhat) and again.point_estimate and again.ok
    assert json_safe(again.to_dict()) == json_safe(report.to_dict())
