"""The package's exceptions."""

from __future__ import annotations


class DataError(ValueError):
    """Input that cannot be used as given.

    The message names what is wrong, where (rows or items), and how to fix it.
    """


class SpecError(ValueError):
    """A model specification (name or TOML file) that cannot be used as given."""
