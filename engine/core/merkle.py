"""The transparency log's tree: RFC 6962 (Certificate Transparency) Merkle hashing, pure.

Leaves are ``SHA-256(0x00 || data)``, inner nodes ``SHA-256(0x01 || left || right)``, and the tree
over ``n`` leaves splits at the largest power of two below ``n`` (RFC 6962 section 2.1). The tree
grows one leaf at a time through its *compact range* (the roots of the perfect subtrees its size
decomposes into, largest first), so appending costs amortised one hash and the root is a fold of at
most log2(n) hashes. Proofs are built from a ``SubtreeHashes`` source (which may read stored
subtree hashes instead of every leaf) and checked with the algorithms of RFC 9162 section 2.1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree."""

CHUNK_LEVEL = 8
"""The height of the stored subtrees (256 leaves): every aligned perfect subtree of this height is kept."""
CHUNK = 1 << CHUNK_LEVEL


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's data."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node over its two children."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """The root over leaf hashes (or over subtree hashes of equal height, when their count is a power of two)."""
    frontier: list[bytes] = []
    size = 0
    for value in hashes:
        size = append(size, frontier, value)
    return fold(frontier)


def append(size: int, frontier: list[bytes], leaf: bytes,
           completed: Callable[[int, int, bytes], None] | None = None) -> int:
    """Add ``leaf`` to the tree of ``size`` leaves whose compact range is ``frontier`` (changed in place).

    ``completed(level, index, hash)`` hears of every perfect subtree the leaf completes (level 1 and
    up; ``index`` counts the subtrees of that level from the left). Returns the new size.
    """
    node, level, bits = leaf, 0, size
    while bits & 1:
        node = node_hash(frontier.pop(), node)
        level += 1
        bits >>= 1
        if completed is not None:
            completed(level, ((size + 1) >> level) - 1, node)
    frontier.append(node)
    return size + 1


def fold(frontier: Sequence[bytes]) -> bytes:
    """The root of the tree whose compact range is ``frontier``."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def ranges_of(size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` of the perfect subtrees a tree of ``size`` decomposes into."""
    found, start = [], 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            found.append((start, start + (1 << bit)))
            start += 1 << bit
    return found


class SubtreeHashes:
    """Hashes of leaf ranges of one tree, from its leaf hashes and its stored chunk hashes.

    ``leaves(start, end)`` gives the leaf hashes of ``[start, end)``; ``chunks(start, end)`` the hashes
    of the perfect subtrees of ``CHUNK`` leaves numbered ``start`` to ``end - 1``. A range proof
    needs O(log n) ranges, each read as at most ``CHUNK`` leaves or a run of chunk hashes.
    """

    def __init__(self, leaves: Callable[[int, int], Sequence[bytes]],
                 chunks: Callable[[int, int], Sequence[bytes]]) -> None:
        self._leaves = leaves
        self._chunks = chunks

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) as RFC 6962 defines it."""
        n = end - start
        if n <= 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and n >= CHUNK and start % CHUNK == 0:
            return root_of(self._chunks(start // CHUNK, end // CHUNK))
        if n <= CHUNK:
            return root_of(self._leaves(start, end))
        k = _split(n)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self, size: int) -> bytes:
        """The root of the first ``size`` leaves."""
        return self.range_hash(0, size)

    def frontier(self, size: int) -> list[bytes]:
        """The compact range of the first ``size`` leaves."""
        return [self.range_hash(start, end) for start, end in ranges_of(size)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 6962 section 2.1.1."""
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self._path(m, start, start + k) + [self.range_hash(start + k, end)]
        return self._path(m - k, start + k, end) + [self.range_hash(start, start + k)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[0:new]) of RFC 6962 section 2.1.2."""
        if not 0 <= old <= new:
            raise ValueError(f"no consistency proof from {old} to {new} leaves")
        if old == 0 or old == new:
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.range_hash(start, end)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, start + k, whole) + [self.range_hash(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.range_hash(start, start + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Iterable[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, value = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``old`` leaves is a prefix of the one of ``new`` (RFC 9162 2.1.4.2)."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for value in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(value, first)
            second = node_hash(value, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, value)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root
