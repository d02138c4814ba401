"""The `service` fixture: the real lookup service on the story of `tests.support.service`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service import Server, make_store, serving


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service on the story's store, for the whole module."""
    store = make_store(tmp_path_factory.mktemp("service"))
    with serving(store, "--nir-limit", "100000") as server:
        yield server
