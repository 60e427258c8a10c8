"""Argument checks shared by every public function (dependency-free, so the CLI starts fast)."""

from __future__ import annotations


def check_ci_prob(ci_prob: float) -> float:
    """``ci_prob`` as a float strictly between 0 and 1; a ValueError otherwise."""
    if isinstance(ci_prob, bool) or not isinstance(ci_prob, int | float) or not 0 < float(ci_prob) < 1:
        raise ValueError(f"ci_prob must be a probability strictly between 0 and 1, got {ci_prob!r}")
    return float(ci_prob)
