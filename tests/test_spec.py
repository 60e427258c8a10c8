"""Model specs: shipped names and TOML files, round trip, clear errors."""

from __future__ import annotations

import pytest

import bayeslabels as bl


def test_shipped_specs_resolve_by_name():
    spec = bl.resolve_spec("dawid-skene")
    assert spec.model == "dawid-skene" and spec.inference.sampler == "auto"
    assert bl.resolve_spec("one-coin").variant == "one-coin"


def test_toml_round_trip(tmp_path):
    spec = bl.ModelSpec(
        model="one-coin",
        priors=bl.DawidSkenePriors(confusion_off=1.2, confusion_diag_per_class=0.5, prevalence=3.0),
        inference=bl.InferenceSettings(draws=200, tune=300, chains=2, seed=9),
    )
    path = tmp_path / "mine.toml"
    path.write_text(spec.to_toml())
    back = bl.ModelSpec.from_toml(path)
    assert back.to_dict() == spec.to_dict() and back.hash == spec.hash


def test_a_users_spec_file_is_fitted(tmp_path):
    path = tmp_path / "strong-diagonal.toml"
    path.write_text(
        'model = "dawid-skene"\n[priors]\nconfusion_diag_per_class = 3.0\n[inference]\nmethod = "em"\n'
    )
    sim = bl.simulate.dawid_skene(n_items=60, n_annotators=6, n_classes=2, labels_per_item=(2, 4), seed=0)
    fit = bl.fit(sim.annotations, model=str(path))
    assert fit.method == "em" and fit.spec.priors.confusion_diag_per_class == 3.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('model = "dawid-skene"\ncolour = "blue"\n', "unknown key(s) ['colour']"),
        ("[priors]\nconfusion_of = 2.0\n", "unknown key(s) ['confusion_of'] in [priors]"),
        ("[priors]\nconfusion_off = 0.5\n", "must be ≥ 1"),
        ('[priors]\nprevalence = "lots"\n', "priors.prevalence must be a number"),
        ("[inference]\ndraws = -5\n", "inference.draws"),
        ('[inference]\nsampler = "stan"\n', "inference.sampler='stan'"),
        ('model = "dawid-skeen"\n', "unknown model 'dawid-skeen'"),
        ("model = \n", "not valid TOML"),
    ],
)
def test_invalid_specs_get_a_specific_error(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(bl.SpecError) as info:
        bl.ModelSpec.from_toml(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_model_name_lists_the_shipped_ones():
    with pytest.raises(bl.SpecError, match="dawid-skene"):
        bl.resolve_spec("hierarchical-x")


@pytest.mark.parametrize("sampler", ["blackjax"])  # numpyro is a dependency (sampler="auto")
def test_jax_sampler_without_jax_names_the_install_command(sampler):
    from importlib.util import find_spec

    if find_spec("jax") is not None and find_spec(sampler) is not None:
        pytest.skip("JAX and the sampler are installed here")
    ann = bl.simulate.dawid_skene(n_items=30, n_annotators=6, n_classes=2, seed=1).annotations
    with pytest.raises(bl.SpecError, match=r"bayeslabels\[jax\]"):
        bl.fit(ann, sampler=sampler, draws=10, tune=10, chains=1, quiet=True)


def test_a_directory_given_as_the_model_says_what_to_give_instead(tmp_path):
    with pytest.raises(bl.SpecError, match=r"is a directory, not a spec: give a \.toml spec file"):
        bl.resolve_spec(tmp_path)
