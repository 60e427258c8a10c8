"""PyMC model builders, one short module per family, all on `_likelihood`."""

from .dawid_skene import BUILDERS, dawid_skene, initial_values, one_coin

__all__ = ["BUILDERS", "dawid_skene", "initial_values", "one_coin"]
