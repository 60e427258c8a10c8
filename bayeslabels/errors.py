"""The package's exceptions."""

from __future__ import annotations


class DataError(ValueError):
    """Input that cannot be used as given.

    The message names what is wrong, where (rows or items), and how to fix it. A subclass of
    `ValueError`.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> try:
    ...     bl.datasets.load("imagenet")
    ... except bl.DataError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    no bundled dataset 'imagenet'; available: ['adult_content', 'anesthesia', 'bluebirds', ...]
    """


class SpecError(ValueError):
    """A model specification (name or TOML file) that cannot be used as given.

    A subclass of `ValueError`; the message says which key or value is at fault.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> try:
    ...     bl.resolve_spec("dawid-skeen")
    ... except bl.SpecError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    unknown model 'dawid-skeen': use one of [...'dawid-skene', ...] or a path ...
    """
