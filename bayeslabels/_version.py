"""The installed package's version, importable without the package root."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayeslabels")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
