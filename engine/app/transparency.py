"""The transparency log's outside anchors: the signing key file, signed checkpoints sent out, proofs.

``keygen`` writes an Ed25519 key (PEM, mode 0600) and its public half beside it (``PATH.pub``).
``write_checkpoint`` signs the log's head as it stands, stores the checkpoint in the database and
sends it out three ways: to the checkpoint folder (one JSON file each, written atomically, from
where it may be copied or published), as a notice to the people the definition's ``checkpoints:``
names (through the outbox, like any notice), and to a witness URL (``send_to_witness``: a POST of
its JSON, retried with back-off until the witness answers 2xx). ``case_proof``
gives the inclusion proof of a case's events against the newest checkpoint, and ``check_proof``
checks such a proof offline, with nothing but the file and (optionally) the public key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from sqlalchemy import Connection

from engine.app.runtime import Runtime
from engine.channels.base import DeliveryFailure
from engine.channels.http_exchange import bounded_request
from engine.compile.notice_context import checkpoint_context
from engine.core import tree_heads
from engine.core.log_entries import event_entry
from engine.core.merkle import SubtreeHashes, fold, verify_inclusion
from engine.core.masking import without_secrets
from engine.core.tree_heads import TreeHead
from engine.errors import InvalidInput, NotFound, Unavailable
from engine.notices.outbox import notice_rows_for, queue
from engine.store import case_rows, definition_rows, log_rows, witness_rows

MAX_KEY_FILE = 64 * 1024
MAX_CHECKPOINT_FILE = 1024 * 1024


class KeyUnavailable(Unavailable):
    """The signing key file is not set, missing or unreadable."""


def keygen(path: Path) -> dict[str, str]:
    """Write a new private key to ``path`` (0600, refusing to overwrite) and its public key to ``path.pub``."""
    if not path.name or path.name in (".", ".."):
        raise InvalidInput(f"{str(path)[:200]!r} names no key file; give a file path such as /etc/treckk/signing.key",
                           field="path", value=str(path)[:200])
    private = Ed25519PrivateKey.generate()
    public_path = path.with_name(path.name + ".pub")
    try:
        is_folder, taken = path.is_dir(), [target for target in (path, public_path) if target.exists()]
    except (OSError, ValueError) as exc:  # a name too long, a NUL in the path
        raise KeyUnavailable(f"cannot write the key {str(path)[:200]}: {getattr(exc, 'strerror', None) or exc}") from None
    if is_folder:
        raise InvalidInput(f"{path} is a folder; give a file path such as {path / 'signing.key'}",
                           field="path", value=str(path))
    if taken:
        raise InvalidInput(f"{taken[0]} already exists; keygen never overwrites a key (move it away first)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        public_path.write_bytes(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise KeyUnavailable(f"cannot write the key {str(path)[:200]}: {getattr(exc, 'strerror', None) or exc}") from None
    return {"private_key": str(path), "public_key": str(public_path),
            "key_id": tree_heads.key_id(private.public_key())}


def _read_small(path: Path, limit: int, what: str) -> bytes:
    try:
        if not path.is_file():
            raise KeyUnavailable(f"{what} {path} does not exist or is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise KeyUnavailable(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InvalidInput(f"{what} {path} is larger than {limit} bytes; it is not one")
    return data


def private_key(path: Path | None, setting: str) -> Ed25519PrivateKey:
    """The signing key in ``path``; KeyUnavailable naming ``setting`` when none is set or it cannot be read."""
    if path is None:
        raise KeyUnavailable(f"no signing key: set {setting} to a key file made with `treckk keygen PATH`")
    try:
        key = load_pem_private_key(_read_small(path, MAX_KEY_FILE, "the signing key"), password=None)
    except (ValueError, TypeError):
        raise InvalidInput(f"the signing key {path} is not an Ed25519 private key in PEM form "
                           "(make one with `treckk keygen PATH`)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"the signing key {path} is not an Ed25519 key")
    return key


def public_key(path: Path) -> Ed25519PublicKey:
    """The public key in ``path``: a public key file (``PATH.pub``) or the private key file itself."""
    data = _read_small(path, MAX_KEY_FILE, "the key")
    try:
        if b"PRIVATE KEY" in data:
            private = load_pem_private_key(data, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        else:
            public = load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return public
    except (ValueError, TypeError):
        pass
    raise InvalidInput(f"{path} is not an Ed25519 key in PEM form (make one with `treckk keygen PATH`)")


def _tree(connection: Connection) -> SubtreeHashes:
    return SubtreeHashes(lambda start, end: log_rows.leaf_hashes(connection, start, end),
                         lambda start, end: log_rows.chunk_hashes(connection, start, end))


def write_checkpoint(runtime: Runtime, key: Ed25519PrivateKey, folder: Path, *,
                     only_if_grown: bool = False, witness: bool = False) -> TreeHead | None:
    """Sign the log's head now, store the checkpoint and send it out; returns it.

    In the transaction that stores it, the checkpoint's notice of each deployed workflow that
    declares ``checkpoints:`` is queued (to the Penanggung Jawab, for TRECKK) and, with
    ``witness``, its send to the witness URL (made by ``send_to_witness``); after the commit it is
    written to ``folder``. With ``only_if_grown`` (the periodic job), nothing is written while
    the log has not grown since the newest checkpoint, and None is returned.
    """
    now = runtime.clock()

    def work(connection: Connection) -> TreeHead | None:
        size, frontier = log_rows.head(connection)
        if only_if_grown and log_rows.newest_checkpoint_size(connection) == size:
            return None
        checkpoint = tree_heads.sign(key, size, fold(frontier).hex(), now)
        checkpoint_id = log_rows.insert_checkpoint(connection, checkpoint)
        _queue_notices(runtime, connection, checkpoint, now)
        if witness:
            witness_rows.offer(connection, checkpoint_id, now)
        return checkpoint

    checkpoint = runtime.db.transaction(work)
    if checkpoint is not None:
        send_to_folder(checkpoint, folder)
    return checkpoint


def _queue_notices(runtime: Runtime, connection: Connection, checkpoint: TreeHead, now: datetime) -> None:
    """The checkpoint's notice of every deployed workflow whose newest version declares one."""
    shown = {**checkpoint.as_json(), "time": checkpoint.time}
    for workflow in definition_rows.workflows(connection):
        compiled = runtime.compiled(connection, workflow)
        definition, spec = compiled.definition, compiled.definition.checkpoints
        if spec is None:
            continue
        rows = notice_rows_for(connection, compiled, None, spec.to, spec.template,
                               lambda recipient: checkpoint_context(definition, recipient, now, shown),
                               case_id=None, event_seq=None, source=f"checkpoint:{checkpoint.size}",
                               routing=runtime.routing, now=now)
        queue(connection, compiled, rows)


@dataclass(frozen=True, slots=True)
class WitnessAttempt:
    """What one call of ``send_to_witness`` did: which checkpoint, and the error when it failed."""

    size: int
    error: str | None
    retry_at: datetime | None


WITNESS_RETRY_FIRST = 60.0
WITNESS_RETRY_MAX = 3600.0
"""Seconds before the first retry of a failed send to the witness, doubling up to this."""


def send_to_witness(runtime: Runtime, url: str, timeout: float) -> WitnessAttempt | None:
    """POST the newest checkpoint still owed to the witness at ``url``, if one is due; None when none is.

    The body is the checkpoint's JSON (as ``treckk checkpoint`` prints it); a 2xx answer marks it
    sent and keeps the start of the answer (a witness may return its cosignature); anything else,
    or no answer within ``timeout`` seconds, leaves it pending for a retry with back-off.
    """
    now = runtime.clock()

    def take(connection: Connection) -> tuple[witness_rows.WitnessSend, TreeHead] | None:
        send = witness_rows.due(connection, now)
        if send is None:
            return None
        checkpoint = log_rows.checkpoint_by_id(connection, send.checkpoint_id)
        lease = now + timedelta(seconds=timeout + WITNESS_RETRY_FIRST)
        if checkpoint is None or not witness_rows.claim(connection, send, lease):
            return None
        return send, checkpoint

    taken = runtime.db.transaction(take)
    if taken is None:
        return None
    send, checkpoint = taken
    where = without_secrets(url)
    error = _post_checkpoint(url, where, checkpoint, timeout)
    if isinstance(error, bytes):
        answer = error.decode("utf-8", "replace")
        runtime.db.transaction(lambda connection: witness_rows.mark_sent(connection, send.checkpoint_id,
                                                                          runtime.clock(), answer))
        return WitnessAttempt(checkpoint.size, None, None)
    delay = min(WITNESS_RETRY_FIRST * 2 ** send.attempts, WITNESS_RETRY_MAX)
    retry_at = runtime.clock() + timedelta(seconds=delay)
    runtime.db.transaction(lambda connection: witness_rows.mark_failed(connection, send.checkpoint_id, error,
                                                                        retry_at))
    return WitnessAttempt(checkpoint.size, error, retry_at)


def _post_checkpoint(url: str, where: str, checkpoint: TreeHead, timeout: float) -> bytes | str:
    """The witness's answer on a 2xx, else what went wrong (secrets stripped from the URL)."""
    data = json.dumps(checkpoint.as_json()).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "TRECKK-witness/1"}
    try:
        answer = bounded_request("POST", url, data, headers, timeout=timeout, what=f"witness {where}")
    except DeliveryFailure as exc:
        return str(exc)
    status, reason, body = answer.status, answer.reason, answer.body
    if 200 <= status < 300:
        return body
    text = " ".join(body.decode("utf-8", "replace").split())[:300]
    return f"witness {where} answered HTTP {status} {reason}" + (f": {text}" if text else "")


def witness_sends(runtime: Runtime, limit: int = 20) -> list[witness_rows.WitnessSend]:
    """The newest sends to the witness, newest first (for ``treckk checkpoint --status``)."""
    return runtime.db.read(lambda connection: witness_rows.sends(connection, limit))


def send_to_folder(checkpoint: TreeHead, folder: Path) -> Path:
    """Write ``checkpoint`` as one JSON file into ``folder`` (0700), atomically; returns its path."""
    stamp = checkpoint.time.strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"checkpoint-{checkpoint.size:012d}-{stamp}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(checkpoint.as_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        raise Unavailable(f"cannot write the checkpoint to {folder}: {exc.strerror or exc}") from None
    return target


def read_checkpoint_file(path: Path) -> TreeHead:
    """A checkpoint from a JSON file ``treckk checkpoint`` wrote or printed."""
    try:
        value = json.loads(_read_small(path, MAX_CHECKPOINT_FILE, "the checkpoint file").decode("utf-8"))
    except KeyUnavailable as exc:
        raise InvalidInput(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a checkpoint (not JSON: {exc})") from None
    return tree_heads.from_json(value, str(path))


def folder_checkpoints(folder: Path) -> list[tuple[Path, TreeHead]]:
    """The checkpoints in the checkpoint folder (none when it does not exist)."""
    if not folder.is_dir():
        return []
    return [(path, read_checkpoint_file(path)) for path in sorted(folder.glob("checkpoint-*.json"))]


def case_proof(runtime: Runtime, number: str) -> dict[str, Any]:
    """The inclusion proof of every event of case ``number`` against the newest checkpoint that covers them."""

    def work(connection: Connection) -> dict[str, Any]:
        case = case_rows.existing_case(connection, number)
        leaves = log_rows.leaves_of_case(connection, case.id)
        held = log_rows.checkpoints(connection)
        if not held:
            raise NotFound("no checkpoint has been written yet; run `treckk checkpoint` first")
        checkpoint = held[-1]
        tree = _tree(connection)
        by_seq = {event.seq: event for event in case_rows.history(connection, case.id)}
        entries = []
        for leaf in leaves:
            if leaf.idx >= checkpoint.size or leaf.seq not in by_seq:
                continue
            entries.append({
                "seq": leaf.seq, "index": leaf.idx, "event_hash": by_seq[leaf.seq].hash,
                "workflow": leaf.workflow, "definition_version": leaf.definition_version,
                "definition_digest": leaf.definition_digest,
                "proof": [value.hex() for value in tree.inclusion_proof(leaf.idx, checkpoint.size)],
            })
        return {"case": case.number, "case_id": case.id, "checkpoint": checkpoint.as_json(), "events": entries}

    return runtime.db.transaction(work)


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """What an offline proof check found: the events proven, and what did not hold."""

    case: str
    proven: int
    problems: list[str]
    signature: str
    """``holds``, ``fails`` or ``unchecked`` (no key given)."""


def check_proof(value: Any, where: str, key: Ed25519PublicKey | None) -> ProofCheck:
    """Check a proof (``case_proof``'s JSON) offline: every event leaf against the checkpoint's root."""
    if not isinstance(value, dict) or not isinstance(value.get("events"), list) or "case" not in value:
        raise InvalidInput(f"{where}: not a proof; expected the JSON `treckk proof CASE --json` prints")
    checkpoint = tree_heads.from_json(value.get("checkpoint"), f"{where}: checkpoint")
    problems = []
    signature = "unchecked"
    if key is not None:
        signature = "holds" if checkpoint.signature_holds(key) else "fails"
        if signature == "fails":
            problems.append(f"the checkpoint's signature does not hold for key {tree_heads.key_id(key)}")
    try:
        root = bytes.fromhex(checkpoint.root)
        proven = 0
        for entry in value["events"]:
            leaf = event_entry(int(value["case_id"]), str(value["case"]), int(entry["seq"]), str(entry["event_hash"]),
                               str(entry["workflow"]), int(entry["definition_version"]),
                               str(entry["definition_digest"])).leaf()
            path = [bytes.fromhex(part) for part in entry["proof"]]
            if verify_inclusion(leaf, int(entry["index"]), checkpoint.size, path, root):
                proven += 1
            else:
                problems.append(f"event {entry['seq']} (leaf {entry['index']}) is not in the checkpoint's tree")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: not a proof ({exc})") from None
    return ProofCheck(str(value["case"]), proven, problems, signature)
