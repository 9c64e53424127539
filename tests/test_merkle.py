"""The transparency log's tree (engine.core.merkle), leaves and checkpoints, without a database.

Roots are compared with a plain recursive RFC 6962 reference; proofs built from chunk hashes (as
the store serves them) are checked by the RFC 9162 verifiers, and altered proofs are refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.core import merkle
from engine.core.log_entries import deploy_entry, event_entry
from engine.core.merkle import (
    EMPTY_ROOT,
    SubtreeHashes,
    append,
    fold,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from engine.core.tree_heads import from_json, key_id, sign
from engine.errors import InvalidInput


def reference(hashes: Sequence[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, written as the RFC does."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(reference(hashes[:k]), reference(hashes[k:]))


LEAVES = [leaf_hash(str(i).encode()) for i in range(70)]


def test_the_rfc_6962_hashes() -> None:
    # The empty tree and the empty leaf, as every Certificate Transparency log computes them.
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> SubtreeHashes:
    """Chunks of 4 leaves, so the chunk paths are exercised by a tree of 70."""
    monkeypatch.setattr(merkle, "CHUNK_LEVEL", 2)
    monkeypatch.setattr(merkle, "CHUNK", 4)
    return SubtreeHashes(lambda a, b: LEAVES[a:b],
                         lambda a, b: [reference(LEAVES[i * 4:(i + 1) * 4]) for i in range(a, b)])


def test_roots_frontiers_and_completed_chunks(small_chunks: SubtreeHashes) -> None:
    frontier: list[bytes] = []
    completed: list[tuple[int, int, bytes]] = []
    size = 0
    for n in range(70):
        assert root_of(LEAVES[:n]) == reference(LEAVES[:n]) == small_chunks.root(n) == fold(frontier)
        assert small_chunks.frontier(n) == frontier
        size = append(size, frontier, LEAVES[n], lambda *node: completed.append(node))
    assert [(i, h) for level, i, h in completed if level == 2] == [
        (i, reference(LEAVES[i * 4:(i + 1) * 4])) for i in range(70 // 4)]


def test_inclusion_proofs_hold_and_altered_ones_do_not(small_chunks: SubtreeHashes) -> None:
    for size in range(1, 70):
        root = reference(LEAVES[:size])
        for index in range(size):
            proof = small_chunks.inclusion_proof(index, size)
            assert verify_inclusion(LEAVES[index], index, size, proof, root), (index, size)
            assert not verify_inclusion(LEAVES[index - 1] if index else LEAVES[1], index, size, proof, root)
            if proof:
                assert not verify_inclusion(LEAVES[index], index, size, proof[:-1], root)
    with pytest.raises(ValueError):
        small_chunks.inclusion_proof(5, 5)


def test_consistency_proofs_hold_and_a_rewritten_prefix_does_not(small_chunks: SubtreeHashes) -> None:
    for new in range(70):
        for old in range(new + 1):
            proof = small_chunks.consistency_proof(old, new)
            assert verify_consistency(old, new, reference(LEAVES[:old]), reference(LEAVES[:new]), proof), (old, new)
            if 0 < old < new:
                rewritten = [leaf_hash(b"x"), *LEAVES[1:old]]
                assert not verify_consistency(old, new, reference(rewritten), reference(LEAVES[:new]), proof)
    assert not verify_consistency(5, 3, EMPTY_ROOT, EMPTY_ROOT, [])


def test_leaves_name_what_they_stand_for() -> None:
    event = event_entry(7, "TRK-2026-000007", 2, "ab" * 32, "treckk", 1, "cd" * 32)
    assert event.data() == (b'{"case":"TRK-2026-000007","digest":"' + b"cd" * 32 + b'","event":"' + b"ab" * 32
                            + b'","kind":"event","seq":2,"version":1,"workflow":"treckk"}')
    assert event.leaf() == leaf_hash(event.data())
    assert deploy_entry("treckk", 1, "cd" * 32).leaf() != event.leaf()
    for other in (event_entry(7, "TRK-2026-000007", 2, "ab" * 32, "treckk", 2, "cd" * 32),
                  event_entry(7, "TRK-2026-000008", 2, "ab" * 32, "treckk", 1, "cd" * 32)):
        assert other.leaf() != event.leaf()


def test_checkpoints_are_signed_and_read_back() -> None:
    key = Ed25519PrivateKey.generate()
    at = datetime(2026, 12, 1, 1, 2, 3, tzinfo=timezone.utc)
    checkpoint = sign(key, 12, "ab" * 32, at)
    assert checkpoint.key_id == key_id(key.public_key()) and checkpoint.signature_holds(key.public_key())
    again = from_json(checkpoint.as_json(), "file")
    assert again == checkpoint and again.signature_holds(key.public_key())
    forged = from_json({**checkpoint.as_json(), "size": 13}, "file")
    assert not forged.signature_holds(key.public_key())
    assert not checkpoint.signature_holds(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(InvalidInput, match="file: not a checkpoint"):
        from_json({"size": "12"}, "file")
