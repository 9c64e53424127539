"""What the transparency log holds: one leaf per history event, per deployed definition version, and
per change of a staff account.

A leaf's data is a canonical JSON naming what it stands for. An event's leaf carries the case
number, the event's sequence number and chain hash (``engine.core.integrity``, which covers every
column of the event) and the definition version and digest the case was pinned to when the event
happened; a deployment's leaf carries the workflow, version and digest of the bundle. So the
signed tree commits to each case's whole history *and* to the rules it was decided by. A staff
leaf carries the username and the digest of the account as the engine left it (``staff_state``:
name, contacts, active, every grant, the password hash and the API tokens), so an account changed
behind the engine's back — a role granted, a password or token planted — no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from engine.core.merkle import leaf_hash

_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The one JSON form leaves are hashed in; never change it, or every stored tree breaks."""

EVENT = "event"
DEPLOY = "deploy"
STAFF = "staff"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One leaf of the log, before it has its place (index) in the tree."""

    kind: str
    """``event``, ``deploy`` or ``staff``."""
    workflow: str
    definition_version: int
    definition_digest: str
    case_id: int | None = None
    case_number: str | None = None
    seq: int | None = None
    event_hash: str | None = None
    subject: str | None = None
    """The username of a staff leaf (whose account digest is in ``definition_digest``)."""

    def data(self) -> bytes:
        """The leaf's data, as hashed."""
        if self.kind == STAFF:
            return _CANONICAL.encode({"kind": STAFF, "staff": self.subject,
                                      "state": self.definition_digest}).encode("utf-8")
        content: dict[str, object] = {"kind": self.kind, "workflow": self.workflow,
                                      "version": self.definition_version, "digest": self.definition_digest}
        if self.kind == EVENT:
            content.update(case=self.case_number, seq=self.seq, event=self.event_hash)
        return _CANONICAL.encode(content).encode("utf-8")

    def leaf(self) -> bytes:
        """The leaf hash (RFC 6962)."""
        return leaf_hash(self.data())


def event_entry(case_id: int, case_number: str, seq: int, event_hash: str, workflow: str, version: int,
                digest: str) -> LogEntry:
    """The leaf of one history event of a case pinned to ``workflow`` ``version`` (``digest``)."""
    return LogEntry(EVENT, workflow, version, digest, case_id, case_number, seq, event_hash)


def deploy_entry(workflow: str, version: int, digest: str) -> LogEntry:
    """The leaf of one deployed definition version."""
    return LogEntry(DEPLOY, workflow, version, digest)


def staff_entry(username: str, state: str) -> LogEntry:
    """The leaf of staff account ``username`` as it stands after a change (``state``: its ``staff_state``)."""
    return LogEntry(STAFF, "", 0, state, subject=username)


def staff_state(username: str, name: str, phone: str | None, email: str | None, active: bool,
                grants: Iterable[tuple[str, str, str | None]], password_hash: str | None,
                tokens: Iterable[tuple[int, str, bool]]) -> str:
    """The digest of a staff account: everything that decides what it may do and how it logs in.

    ``grants`` are (workflow, role, scope value); ``tokens`` are (id, token hash, revoked). Order
    does not matter. The password hash is itself hashed (the digest is no help to a guesser).
    """
    content = {
        "username": username, "name": name, "phone": phone, "email": email, "active": bool(active),
        "grants": sorted(([workflow, role, scope] for workflow, role, scope in grants),
                         key=lambda grant: (grant[0], grant[1], grant[2] or "")),
        "password": hashlib.sha256(password_hash.encode("utf-8")).hexdigest() if password_hash else None,
        "tokens": sorted([int(token_id), token_hash, bool(revoked)] for token_id, token_hash, revoked in tokens),
    }
    return hashlib.sha256(_CANONICAL.encode(content).encode("utf-8")).hexdigest()
