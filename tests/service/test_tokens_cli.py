"""`exposure service token create|list|revoke`, `service log` and `serve` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import ALAN, MALAKOFF, exposure, make_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("tokens"))


def test_a_token_is_printed_once_and_only_its_hash_is_stored(store: Path) -> None:
    created = exposure(store, "service", "token", "create", "--insurer", MALAKOFF, "--name", "call centre")
    listed = exposure(store, "service", "token", "list", "--json")

    secret = created.stdout.strip()
    assert created.returncode == 0
    assert secret.startswith("exp_")
    assert len(secret) > 40
    assert "shown once" in created.stderr
    (token,) = [t for t in json.loads(listed.stdout) if t["name"] == "call centre"]
    assert token["insurer"] == MALAKOFF
    assert token["rate"] == "20/s"
    assert token["revoked_at"] is None
    assert secret not in listed.stdout
    assert secret[4:].encode() not in store.with_name("ledger.service.db").read_bytes()
    assert store.with_name("ledger.service.db").stat().st_mode & 0o777 == 0o600


def test_an_all_insurer_token_and_rates_per_minute(store: Path) -> None:
    created = exposure(
        store, "service", "token", "create", "--all-insurers", "--name", "incident team", "--rate", "600/min", "--json"
    )

    token = json.loads(created.stdout)
    assert token["all_insurers"] is True
    assert token["insurer"] is None
    assert token["rate"] == "600/min"


def test_a_revoked_token_is_listed_with_its_revocation_time(store: Path) -> None:
    token = json.loads(
        exposure(store, "service", "token", "create", "--insurer", ALAN, "--name", "portal", "--json").stdout
    )

    revoked = exposure(store, "service", "token", "revoke", token["fingerprint"], "--json")
    again = exposure(store, "service", "token", "revoke", token["fingerprint"], "--json")

    assert revoked.returncode == 0
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    assert json.loads(again.stdout)["revoked_at"] == json.loads(revoked.stdout)["revoked_at"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "--insurer", "no-such-insurer", "--name", "x"], 1, "Error: unknown insurer 'no-such-insurer'"),
        (
            ["create", "--insurer", MALAKOFF, "--name", "x", "--rate", "fast"],
            1,
            "Error: --rate: expected COUNT/s, COUNT/min or COUNT/h, got 'fast'",
        ),
        (
            ["create", "--insurer", MALAKOFF, "--name", "x", "--rate", "0/s"],
            1,
            "Error: --rate: the rate must be positive, got '0/s'",
        ),
        (["create", "--insurer", MALAKOFF, "--name", " "], 1, "Error: --name must not be empty"),
        (
            ["revoke", "ffffffffffff"],
            1,
            "Error: no token with fingerprint 'ffffffffffff' (see: exposure service token list)",
        ),
    ],
)
def test_bad_token_commands_fail_with_one_error_line(store: Path, args: list[str], code: int, message: str) -> None:
    done = exposure(store, "service", "token", *args)

    assert done.returncode == code
    assert done.stderr.strip() == message
    assert "Traceback" not in done.stderr


def test_token_scope_is_one_insurer_or_all_a_usage_error_otherwise(store: Path) -> None:
    neither = exposure(store, "service", "token", "create", "--name", "x")
    both = exposure(store, "service", "token", "create", "--insurer", MALAKOFF, "--all-insurers", "--name", "x")

    assert neither.returncode == both.returncode == 2


def test_serving_a_missing_store_fails_with_one_error_line(tmp_path: Path) -> None:
    done = exposure(tmp_path / "none.db", "serve", "--port", "1")

    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: no store at {tmp_path / 'none.db'} (run: exposure init)"


def test_the_cli_imports_no_http_stack_unless_serving() -> None:
    code = "import sys, cli.main; print(sorted(m for m in ('litestar', 'uvicorn') if m in sys.modules))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"
