"""Save / load: a directory that round-trips exactly and refuses anything altered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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


def test_a_fit_saved_before_compiled_models_were_reused_still_loads(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["sampling"]["compiled_reused"]  # the field this version added
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert bl.load(copy).sampling.compiled_reused is False
    manifest["sampling"]["unknown_setting"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
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
