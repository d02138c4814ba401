"""The Merkle tree of `domain.merkle` against RFC 6962 and its published test vectors.

Reference vectors: transparency-dev/merkle (testonly/constants.go and
proof/verify_test.go), the Go implementation Certificate Transparency logs use.
The recursive definitions of RFC 6962 §2.1 are written out below as the
reference the iterative code must agree with, for every tree shape up to 40.
"""

from __future__ import annotations

import hashlib

import pytest

from domain import merkle
from domain.audit import leaf_hash
from domain.merkle import Head, ProofError

VECTOR_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION_VECTORS = [  # (1-based leaf, tree size, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [  # (old size, new size, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def rfc_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


VECTOR_LEAVES = [rfc_leaf(d) for d in VECTOR_INPUTS]
MANY = [rfc_leaf(i.to_bytes(2, "big")) for i in range(40)]


# -- RFC 6962 §2.1, as written -----------------------------------------------------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _split(len(d))
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    if m == len(d):
        return [] if complete else [rfc_mth(d)]
    k = _split(len(d))
    if m <= k:
        return [*rfc_subproof(m, d[:k], complete), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


# -- roots ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(len(VECTOR_ROOTS)))
def test_roots_match_the_certificate_transparency_vectors(size):
    assert merkle.root(VECTOR_LEAVES[:size]).hex() == VECTOR_ROOTS[size]


def test_the_empty_tree_hashes_to_sha256_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_every_tree_shape_has_the_rfc_root():
    for size in range(len(MANY) + 1):
        assert merkle.root(MANY[:size]) == rfc_mth(MANY[:size]), size


def test_a_fact_leaf_is_an_rfc_leaf_of_position_topic_hash_and_stored_bytes():
    stored = b'{"kind":"attack-discovered","id":"a"}'
    topic = "exposure:attack-discovered"

    leaf = leaf_hash(3, topic, stored)

    assert leaf == rfc_leaf((3).to_bytes(8, "big") + hashlib.sha256(topic.encode()).digest() + stored).hex()
    assert leaf != leaf_hash(4, topic, stored)


# -- inclusion --------------------------------------------------------------------------


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_vectors_and_verify(leaf, size, proof):
    leaves = VECTOR_LEAVES[:size]

    generated = merkle.inclusion_proof(leaves, leaf - 1)

    assert [p.hex() for p in generated] == proof
    merkle.verify_inclusion(leaves[leaf - 1], leaf - 1, size, generated, bytes.fromhex(VECTOR_ROOTS[size]))


def test_every_inclusion_proof_is_the_rfc_path_and_verifies():
    for size in range(1, len(MANY) + 1):
        tree = MANY[:size]
        root = merkle.root(tree)
        for index in range(size):
            proof = merkle.inclusion_proof(tree, index)
            assert proof == rfc_path(index, tree), (index, size)
            merkle.verify_inclusion(tree[index], index, size, proof, root)


def _forged_inclusions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    yield "index - 1", (leaf, index - 1, size, proof, root)
    yield "index + 1", (leaf, index + 1, size, proof, root)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, root)
    yield "size * 2", (leaf, index, size * 2, proof, root)
    yield "size // 2", (leaf, index, size // 2, proof, root)
    yield "wrong leaf", (some, index, size, proof, root)
    yield "empty-tree root", (leaf, index, size, proof, merkle.EMPTY_ROOT)
    yield "trailing root", (leaf, index, size, [*proof, root], root)
    yield "preceding root", (leaf, index, size, [root, *proof], root)
    yield "trailing garbage", (leaf, index, size, [*proof, b""], root)
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        yield f"proof[{i}] bit flipped", (leaf, index, size, [*proof[:i], bytes(flipped), *proof[i + 1 :]], root)
    if proof:
        yield "truncated", (leaf, index, size, proof[:-1], root)
    if len(proof) > 1:
        yield "inserted", (leaf, index, size, [proof[0], some, *proof[1:]], root)


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS)
def test_forged_or_truncated_inclusion_proofs_are_rejected(leaf, size, proof):
    proof_bytes = [bytes.fromhex(p) for p in proof]
    root = bytes.fromhex(VECTOR_ROOTS[size])
    accepted = []

    for label, (hashed, index, tree_size, path, expected) in _forged_inclusions(
        leaf - 1, size, proof_bytes, root, VECTOR_LEAVES[leaf - 1]
    ):
        try:
            merkle.verify_inclusion(hashed, index, tree_size, path, expected)
        except ProofError:
            continue
        accepted.append(label)

    assert accepted == []


def test_no_inclusion_proof_exists_in_an_empty_tree_or_past_its_end():
    with pytest.raises(ProofError):
        merkle.verify_inclusion(MANY[0], 0, 0, [], merkle.EMPTY_ROOT)
    with pytest.raises(ProofError):
        merkle.inclusion_proof(MANY[:3], 3)


# -- consistency ------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_vectors_and_verify(old, new, proof):
    generated = merkle.consistency_proof(VECTOR_LEAVES[:new], old)

    assert [p.hex() for p in generated] == proof
    merkle.verify_consistency(old, new, bytes.fromhex(VECTOR_ROOTS[old]), bytes.fromhex(VECTOR_ROOTS[new]), generated)


def test_every_consistency_proof_is_the_rfc_proof_and_verifies():
    for new in range(len(MANY) + 1):
        tree = MANY[:new]
        for old in range(new + 1):
            proof = merkle.consistency_proof(tree, old)
            assert proof == (rfc_subproof(old, tree, True) if 0 < old < new else []), (old, new)
            merkle.verify_consistency(old, new, rfc_mth(tree[:old]), rfc_mth(tree), proof)


def _forged_consistencies(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]):
    yield "old - 1", (old - 1, new, old_root, new_root, proof)
    yield "old + 1", (old + 1, new, old_root, new_root, proof)
    yield "old ^ 2", (old ^ 2, new, old_root, new_root, proof)
    yield "new * 2", (old, new * 2, old_root, new_root, proof)
    yield "new // 2", (old, new // 2, old_root, new_root, proof)
    yield "swapped roots", (old, new, new_root, old_root, proof)
    yield "empty proof", (old, new, old_root, new_root, [])
    yield "trailing old root", (old, new, old_root, new_root, [*proof, old_root])
    yield "trailing new root", (old, new, old_root, new_root, [*proof, new_root])
    yield "preceding old root", (old, new, old_root, new_root, [old_root, *proof])
    yield "preceding proof[0]", (old, new, old_root, new_root, [proof[0], *proof])
    yield "truncated", (old, new, old_root, new_root, proof[:-1])
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 16
        yield f"proof[{i}] bit flipped", (old, new, old_root, new_root, [*proof[:i], bytes(flipped), *proof[i + 1 :]])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_forged_or_truncated_consistency_proofs_are_rejected(old, new, proof):
    accepted = []

    for label, args in _forged_consistencies(
        old, new, bytes.fromhex(VECTOR_ROOTS[old]), bytes.fromhex(VECTOR_ROOTS[new]), [bytes.fromhex(p) for p in proof]
    ):
        try:
            merkle.verify_consistency(*args)
        except ProofError:
            continue
        accepted.append(label)

    assert accepted == []


def test_a_rewritten_prefix_has_no_consistency_proof():
    honest = MANY[:20]
    rewritten = [*MANY[:4], rfc_leaf(b"forged"), *MANY[5:20]]

    proof = merkle.consistency_proof(rewritten, 10)

    with pytest.raises(ProofError):
        merkle.verify_consistency(10, 20, merkle.root(honest[:10]), merkle.root(rewritten), proof)


def test_a_shrunken_or_same_size_different_tree_is_not_consistent():
    root = merkle.root(MANY[:5])
    with pytest.raises(ProofError):
        merkle.verify_consistency(6, 5, merkle.root(MANY[:6]), root, [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 5, merkle.root(MANY[1:6]), root, [])
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])


def test_a_hundred_thousand_leaves_build_and_prove_without_recursion():
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(100_000)]

    root = merkle.root(leaves)
    proof = merkle.consistency_proof(leaves, 65_537)
    merkle.verify_consistency(65_537, 100_000, merkle.root(leaves[:65_537]), root, proof)

    assert len(proof) <= 2 * 17


# -- heads ------------------------------------------------------------------------------


def test_a_head_reads_back_from_its_text_in_hex_or_base64():
    head = Head.of(MANY[:7])

    assert merkle.parse_head(str(head)) == head
    assert merkle.parse_head(f"7 {head.root.upper()}") == head
    assert merkle.parse_checkpoint(merkle.checkpoint_body("example.org/log", head)).head == head


@pytest.mark.parametrize("text", ["", "7", "x:abc", f"7:{'0' * 63}", "7:AAAA", f"-1:{'0' * 64}"])
def test_a_malformed_head_is_refused(text):
    with pytest.raises(ProofError):
        merkle.parse_head(text)
