"""Checkpoints: the C2SP tlog-checkpoint text in a C2SP signed note, Ed25519 keys.

The known answers come from Go's golang.org/x/mod/sumdb/note (the reference
implementation of signed notes) and from the C2SP signed-note specification:
a checkpoint signed here verifies there, and the other way round.
"""

from __future__ import annotations

import stat

import pytest

from domain import merkle
from domain.merkle import Checkpoint, Head, NoteSignature, ProofError
from ledger import signing

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE_LINE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
ORIGIN = "exposure.ledger/0f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0"
HEAD = Head(5, "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")


def test_signing_reproduces_the_go_reference_signature_byte_for_byte():
    signer = signing.signer_from_text(GO_SKEY)

    signature = signer.private_key.sign(GO_TEXT.encode())
    line = NoteSignature(signer.name, merkle.key_id(signer.name, signer.public_key), signature).line()

    assert signer.verifier_key == GO_VKEY
    assert signing.private_text(signer) == GO_SKEY
    assert line == GO_SIGNATURE_LINE


def test_key_ids_follow_the_signed_note_specification():
    name, key_id, public_key = merkle.parse_verifier_key(SPEC_VKEY)

    assert (name, key_id.hex()) == ("example.com/foo", "530d903a")
    assert merkle.verifier_key(name, public_key) == SPEC_VKEY


def test_a_checkpoint_is_origin_size_and_base64_root_then_the_signatures():
    signer = signing.signer_from_text(GO_SKEY)

    text = signer.sign(Checkpoint(ORIGIN, HEAD)).text()

    body, blank, signatures = text.partition("\n\n")
    assert body.split("\n") == [ORIGIN, "5", "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ="]
    assert blank
    assert signatures.startswith("\u2014 PeterNeumann ")
    assert signatures.endswith("\n")
    assert merkle.parse_checkpoint(text) == signer.sign(Checkpoint(ORIGIN, HEAD))


def test_a_checkpoint_verifies_with_its_signers_public_key_only():
    ours = signing.generate("dpo.example.org")
    theirs = signing.generate("dpo.example.org")
    signed = merkle.parse_checkpoint(ours.sign(Checkpoint(ORIGIN, HEAD)).text())

    signing.verifier_from_text(ours.verifier_key).check(signed)
    with pytest.raises(ProofError, match="not signed by key"):
        signing.verifier_from_text(theirs.verifier_key).check(signed)


def test_a_checkpoint_whose_text_was_changed_after_signing_is_rejected():
    signer = signing.generate("dpo")
    text = signer.sign(Checkpoint(ORIGIN, HEAD)).text()
    forged = text.replace("\n5\n", "\n4\n", 1)

    with pytest.raises(ProofError, match="does not match"):
        signing.verifier_from_text(signer.verifier_key).check(merkle.parse_checkpoint(forged))


def test_a_signature_line_with_the_right_name_but_another_key_is_rejected():
    ours = signing.generate("dpo")
    impostor = signing.generate("dpo")
    forged = merkle.parse_checkpoint(impostor.sign(Checkpoint(ORIGIN, HEAD)).text())

    with pytest.raises(ProofError):
        signing.verifier_from_text(ours.verifier_key).check(forged)


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"{ORIGIN}\n5\n",
        f"{ORIGIN}\nfive\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\n",
        f"{ORIGIN}\n05\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\n",
        f"{ORIGIN}\n5\nnot-base64!\n",
        f"{ORIGIN}\n5\nAAAA\n",
        f"{ORIGIN}\r\n5\r\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\r\n",
        f"{ORIGIN}\n5\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\n\nnot a signature\n",
        f"{ORIGIN}\n5\nTju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=\n\n\u2014 dpo AAAA\n",
    ],
    ids=[
        "empty",
        "no root",
        "size not a number",
        "leading zero",
        "root not base64",
        "short root",
        "CRLF",
        "not a signature line",
        "short signature",
    ],
)
def test_a_malformed_checkpoint_is_refused(text):
    with pytest.raises(ProofError):
        merkle.parse_checkpoint(text)


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_a_public_key(new_cli, tmp_path):
    key = tmp_path / "keys" / "dpo.key"

    result = new_cli("audit", "keygen", str(key), "--name", "dpo.example.org")

    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = signing.load_verifier(str(key.with_name("dpo.key.pub")))
    assert public.public_key == signing.load_signer(key).public_key
    assert public.name == "dpo.example.org"


def test_keygen_never_overwrites_a_key(new_cli, tmp_path):
    key = tmp_path / "dpo.key"
    assert new_cli("audit", "keygen", str(key)).exit_code == 0
    before = key.read_bytes()

    result = new_cli("audit", "keygen", str(key))

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "already exists" in result.stderr
    assert key.read_bytes() == before


def test_a_signing_key_others_can_read_is_refused(cli, tmp_path):
    key = tmp_path / "dpo.key"
    assert cli("audit", "keygen", str(key)).exit_code == 0
    key.chmod(0o644)

    result = cli("audit", "head", "--sign", str(key))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "chmod 600" in result.stderr
