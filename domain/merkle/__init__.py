"""The ledger as a Merkle tree (RFC 6962 / RFC 9162), and its signed checkpoints.

Leaves are the facts' leaf hashes (`domain.audit.leaf_hash`), in append order:
position p is leaf index p - 1. The tree hash of n leaves is RFC 6962's MTH:

    MTH([])        = SHA-256("")
    MTH([leaf])    = leaf                          (already SHA-256(0x00 || ...))
    MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                     with k the largest power of two smaller than n

A `Head` (size, root) commits to the whole log: an auditor who kept a head can
ask for a consistency proof that today's log extends it (nothing rewritten,
nothing removed), and anyone can check that one fact is in a head with an
inclusion proof. Proofs are generated and verified with the algorithms of
RFC 9162 §2.1.3 and §2.1.4.

A checkpoint is the C2SP `tlog-checkpoint` text (origin line, size, base64 root)
wrapped in a C2SP `signed-note` (blank line, then one `— name signature` line per
signature). This module only formats and parses: Ed25519 itself (which needs the
`cryptography` package and key files) lives in `ledger.signing`.

Pure and iterative: a tree of a million leaves costs a million hashes and no
recursion deeper than the tree's height.

tree (the tree hash and its proofs), checkpoint (heads and signed checkpoints as text),
keys (the signed-note key format).
"""

from domain.merkle.checkpoint import (
    MAX_SIGNATURES,
    SIGNATURE_DASH,
    Checkpoint,
    Head,
    NoteSignature,
    check_origin,
    checkpoint_body,
    parse_checkpoint,
    parse_head,
)
from domain.merkle.keys import (
    ED25519,
    KEY_NAME,
    check_key_name,
    key_display,
    key_id,
    parse_signer_key,
    parse_verifier_key,
    signer_key,
    verifier_key,
)
from domain.merkle.tree import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    consistency_proof,
    inclusion_proof,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "KEY_NAME",
    "MAX_SIGNATURES",
    "SIGNATURE_DASH",
    "Checkpoint",
    "Head",
    "NoteSignature",
    "ProofError",
    "check_key_name",
    "check_origin",
    "checkpoint_body",
    "consistency_proof",
    "inclusion_proof",
    "key_display",
    "key_id",
    "node_hash",
    "parse_checkpoint",
    "parse_head",
    "parse_signer_key",
    "parse_verifier_key",
    "root",
    "root_from_inclusion_proof",
    "signer_key",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
]
