"""What the transparency log holds: one leaf per history event and per deployed definition version.

A leaf's data is a canonical JSON naming what it stands for. An event's leaf carries the case
number, the event's sequence number and chain hash (``engine.core.integrity``, which covers every
column of the event) and the definition version and digest the case was pinned to when the event
happened; a deployment's leaf carries the workflow, version and digest of the bundle. So the
signed tree commits to each case's whole history *and* to the rules it was decided by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.core.merkle import leaf_hash

_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The one JSON form leaves are hashed in; never change it, or every stored tree breaks."""

EVENT = "event"
DEPLOY = "deploy"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One leaf of the log, before it has its place (index) in the tree."""

    kind: str
    """``event`` or ``deploy``."""
    workflow: str
    definition_version: int
    definition_digest: str
    case_id: int | None = None
    case_number: str | None = None
    seq: int | None = None
    event_hash: str | None = None

    def data(self) -> bytes:
        """The leaf's data, as hashed."""
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
