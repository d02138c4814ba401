"""The `exposure` command line: a thin shell that parses, calls one function and renders."""

__version__ = "0.1.0"
"""The package version (pyproject.toml reads it from here)."""
