"""pytest's entry to the shared test support (`tests/support`): its hooks and fixtures,
visible to every layer folder (domain, projections, ledger, cli, hardening, postgres)."""

import pytest

pytest.register_assert_rewrite("tests.support")

from tests.support import (  # noqa: E402 - after the assert rewrite is registered
    backend,
    clean_environment,
    cli,
    new_cli,
    new_location,
    pg_server,
    pytest_generate_tests,
    pytest_pyfunc_call,
    store_path,
    write_file,
)

__all__ = [  # pytest finds hooks and fixtures by name in this module
    "backend",
    "clean_environment",
    "cli",
    "new_cli",
    "new_location",
    "pg_server",
    "pytest_generate_tests",
    "pytest_pyfunc_call",
    "store_path",
    "write_file",
]
