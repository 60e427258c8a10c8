"""Export: Parquet / CSV / JSON Lines with provenance, atomic, and refusing unconverged fits."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

import pandas as pd
import pyarrow.parquet as pq
import pytest

import bayeslabels as bl
from bayeslabels import _io


def test_parquet_round_trip_keeps_dtypes_and_provenance(nuts_fit, tmp_path):
    path = nuts_fit.export(tmp_path / "soft.parquet", ci_prob=0.8)
    expected = nuts_fit.soft_labels(ci_prob=0.8).to_frame()
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, expected)
    assert back["item"].dtype == "string" and back["n_labels"].dtype == "int64"

    provenance = bl.read_provenance(path)
    assert provenance["bayeslabels_version"] == bl.__version__
    assert provenance["model"]["model"] == "dawid-skene"
    assert provenance["model"]["priors"] == {
        "confusion_off": 1.5,
        "confusion_diag_per_class": 1.0,
        "prevalence": 2.0,
    }
    assert provenance["data_hash"] == nuts_fit.annotations.data_hash
    # the sampler that ran (sampler="auto": NumPyro for this Dawid–Skene fit)
    assert provenance["sampling"]["sampler"] == nuts_fit.sampling.sampler == "numpyro"
    assert provenance["sampling"]["chains"] == 4
    assert provenance["convergence"]["ok"] is True
    assert provenance["ci_prob"] == 0.8
    assert b"bayeslabels.provenance" in pq.read_schema(path).metadata


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_text_formats_get_a_provenance_sidecar(em_fit, tmp_path, suffix):
    path = em_fit.export(tmp_path / f"soft{suffix}")
    sidecar = path.with_name(path.name + ".json")
    assert json.loads(sidecar.read_text())["method"] == "em"
    back = pd.read_csv(path, dtype={"item": str}) if suffix == ".csv" else pd.read_json(path, lines=True)
    assert back["item"].astype(str).tolist() == list(em_fit.annotations.items)


def test_a_crash_between_write_and_rename_leaves_the_existing_file_untouched(em_fit, tmp_path, monkeypatch):
    path = tmp_path / "soft.parquet"
    path.write_bytes(b"previous version")

    def crash(*args, **kwargs):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(_io.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        em_fit.export(path)
    assert path.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["soft.parquet"]  # no temporary left behind


def test_export_refuses_a_fit_that_failed_its_check_unless_allowed(nuts_fit, tmp_path):
    one_chain = replace(nuts_fit, posterior=nuts_fit.posterior.isel(chain=[0], draw=slice(0, 50)))
    assert not one_chain.check().ok
    with pytest.raises(bl.ConvergenceError, match="allow_failed_check"):
        one_chain.export(tmp_path / "soft.parquet")
    assert not (tmp_path / "soft.parquet").exists()
    path = one_chain.export(tmp_path / "soft.parquet", allow_failed_check=True)
    provenance = bl.read_provenance(path)
    assert provenance["allow_failed_check"] is True and provenance["convergence"]["ok"] is False


def test_unknown_export_extension_is_refused(em_fit, tmp_path):
    with pytest.raises(ValueError, match="cannot export"):
        em_fit.export(tmp_path / "soft.xlsx")


def test_exported_files_are_readable_like_any_new_file(em_fit, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = em_fit.export(tmp_path / "soft.parquet")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_csv_sidecar_is_bound_to_its_file_by_hash(em_fit, tmp_path):
    path = em_fit.export(tmp_path / "soft.csv")
    sidecar = json.loads((tmp_path / "soft.csv.json").read_text())
    assert sidecar["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(path.read_text().replace("\n", "\r\n"))  # the same table, another file
    for read in (bl.read_provenance, bl.SoftLabels.read):
        with pytest.raises(bl.DataError, match="soft.csv.json does not belong to"):
            read(path)


def test_a_text_export_without_provenance_removes_the_old_sidecar_with_it(em_fit, tmp_path):
    path = em_fit.export(tmp_path / "soft.csv")
    em_fit.soft_labels().write(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["soft.csv"]


@pytest.mark.parametrize("extension", [".csv", ".parquet"])
def test_a_name_of_250_bytes_exports_and_its_temporaries_stay_short(em_fit, tmp_path, extension):
    name = "s" * (250 - len(extension)) + extension
    path = em_fit.export(tmp_path / name)
    assert bl.read_provenance(path)["n_items"] == em_fit.annotations.n_items
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name, *([name + ".json"] if extension == ".csv" else [])]
    )


@pytest.mark.parametrize(
    "name, refused",
    [
        ("soft.xlsx", ".xlsx"),
        ("soft.txt", ".txt"),
        ("soft.parquet.gz", "Parquet compresses itself"),
        ("soft", "(no extension)"),
    ],
)
def test_an_export_name_that_does_not_say_its_format_is_refused_before_writing(
    em_fit, tmp_path, name, refused
):
    with pytest.raises(ValueError, match=re.escape(refused)):
        em_fit.export(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
