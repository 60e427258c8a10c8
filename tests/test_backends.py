"""nutpie's two compile backends. ``sampler="nutpie"`` compiles through JAX (seconds, where
numba takes tens of them; benchmarks/first_fit.py), and every family's graph must therefore
convert to JAX; ``"nutpie-numba"`` and ``"nutpie-jax"`` name the backend."""

from __future__ import annotations

import numpy as np
import pytest

import bayeslabels as bl
from bayeslabels.inference import JAX_MAX_LABELS, nutpie_backend
from bayeslabels.models import family_names

SHORT = dict(draws=60, tune=60, chains=2, seed=1, max_draws=0, quiet=True)


def _data(name: str) -> bl.Annotations:
    if name == "learning-from-crowds":
        return bl.simulate.learning_from_crowds(n_items=40, n_annotators=6, seed=2).annotations
    subtypes = 2 if name.endswith("-subtype") else 0
    return bl.simulate.from_family(
        name, n_items=40, n_annotators=6, labels_per_item=(2, 4), n_subtypes=subtypes, seed=2
    ).annotations


@pytest.mark.parametrize("name", family_names())
def test_every_family_samples_through_jax(name):
    ann = _data(name)
    extra = {}
    if name == "learning-from-crowds":
        extra["features"] = bl.simulate.learning_from_crowds(n_items=40, n_annotators=6, seed=2).features
    fit = bl.fit(ann, model=name, sampler="nutpie", **extra, **SHORT)
    assert fit.sampling.backend == "jax" and fit.sampling.sampler == "nutpie"
    soft = fit.soft_labels().to_frame()
    assert list(soft["item"]) == list(ann.items)
    probabilities = soft.filter(regex=r"^p_[^_]+$").to_numpy(float)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_the_backend_is_named_or_chosen_by_size():
    assert nutpie_backend("nutpie-numba", 10) == "numba"
    assert nutpie_backend("nutpie-jax", 10**9) == "jax"
    assert nutpie_backend("nutpie", 10) == "jax"
    assert nutpie_backend("nutpie", JAX_MAX_LABELS + 1) == "numba"
