"""``treckk verify``: the database checked against itself, its transparency log and the checkpoints outside it.

What is checked (each disagreement becomes one finding naming what it is about):

- every deployed definition: its bundle still has its digest, and the log holds its deployment;
- every staff account: what it may do and how it logs in equals the newest staff leaf of its
  username (``engine.app.account_seals``);
- every case (``engine.core.replay``): its hash chain, each event against its log leaf, and every
  column the rules decide against what replaying its events gives;
- the log: leaf indexes gap-free, the stored chunk hashes and head equal to what the leaves give,
  no leaf of a case that is gone, case numbers without gaps;
- the checkpoints (held in the database, in the checkpoint folder, and given as files): each signed
  by the configured key, and each a prefix of today's tree — recomputed on a full run, and by a
  consistency proof from the stored tree;

The database is opened read-only (``engine.store.readonly``) and read in batches. A full run
replays cases in parallel processes (``jobs``); an incremental run starts from the newest
checkpoint whose signature holds: it checks that the stored tree still gives that checkpoint's
root, then re-hashes only the leaves after it and replays only the cases they belong to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection

from engine.app.settings import DATABASE_URL
from engine.compile.workflow import Bundle, compile_bundle
from engine.core.deadlines import WorkingCalendar
from engine.core.log_entries import deploy_entry, staff_entry
from engine.core.merkle import CHUNK, CHUNK_LEVEL, SubtreeHashes, append, fold, verify_consistency
from engine.core.records import case_number_key
from engine.core.replay import Finding, replay_case
from engine.core.tree_heads import TreeHead, key_id
from engine.definition.model import WorkflowDefinition
from engine.errors import NotFound
from engine.store import audit_rows, log_rows, staff_seals
from engine.store.readonly import ReadOnlyDatabase

MIGRATION_TRIGGER = "migrasi"
"""The trigger of a migration event (``engine.app.commands.MIGRATION_TRIGGER``)."""
CASE_BATCH = 500
"""Case ids read per batch by a replaying process."""
PARALLEL_FROM = 5_000
"""Without ``jobs``, a full run replays in parallel processes only from this many cases (below it,
starting them costs more than they save)."""


@dataclass
class VerifyReport:
    """What one verify run checked and found."""

    mode: str
    cases: int = 0
    events: int = 0
    tree_size: int = 0
    root: str = ""
    checkpoints: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, what: str, reason: str, number: str | None = None, seq: int | None = None) -> None:
        self.findings.append({"what": what, "number": number, "seq": seq, "reason": reason})

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "checked": self.cases, "events": self.events, "tree_size": self.tree_size,
                "root": self.root, "checkpoints": self.checkpoints, "broken": self.findings}


class Definitions:
    """The deployed definitions as stored, their digests recomputed, compiled on first use."""

    def __init__(self, rows: Sequence[tuple[str, int, str, str]]) -> None:
        self.rows = {(workflow, version): (digest, bundle) for workflow, version, digest, bundle in rows}
        self.computed = {key: Bundle.from_json(bundle).digest for key, (_digest, bundle) in self.rows.items()}
        self._compiled: dict[tuple[str, int], WorkflowDefinition | None] = {}
        self._calendars: dict[tuple[int, str], WorkingCalendar] = {}

    def digest_of(self, workflow: str, version: int) -> str | None:
        """The digest of a deployed version, only when its bundle still has it."""
        stored = self.rows.get((workflow, version))
        if stored is None or self.computed[(workflow, version)] != stored[0]:
            return None
        return stored[0]

    def definition_of(self, workflow: str, version: int) -> WorkflowDefinition | None:
        key = (workflow, version)
        if key not in self._compiled:
            stored = self.rows.get(key)
            self._compiled[key] = None if stored is None else compile_bundle(Bundle.from_json(stored[1])).definition
        return self._compiled[key]

    def calendar_of(self, definition: WorkflowDefinition, name: str) -> WorkingCalendar:
        key = (id(definition), name)
        if key not in self._calendars:
            self._calendars[key] = WorkingCalendar(definition.calendars[name], definition.timezone)
        return self._calendars[key]


# -- replaying cases (in this process or in workers) --------------------------------------------

_WORKER_DEFINITIONS: dict[str, Definitions] = {}


def _definitions(connection: Connection, url: str) -> Definitions:
    if url not in _WORKER_DEFINITIONS:
        _WORKER_DEFINITIONS[url] = Definitions(audit_rows.definition_rows(connection))
    return _WORKER_DEFINITIONS[url]


def _replay_batch(connection: Connection, definitions: Definitions, cases: Sequence[Any]) -> tuple[int, list[Finding]]:
    ids = [case.id for case in cases]
    events = audit_rows.events_of(connection, ids)
    leaves = log_rows.leaves_of_cases(connection, ids)
    steps = audit_rows.steps_of(connection, ids)
    found: list[Finding] = []
    count = 0
    for case in cases:
        history = events.get(case.id, [])
        count += len(history)
        found.extend(replay_case(case, history, leaves.get(case.id, []), steps.get(case.id, {}),
                                 definitions.definition_of, definitions.digest_of, definitions.calendar_of,
                                 MIGRATION_TRIGGER))
    return count, found


def replay_range(url: str, first: int, last: int) -> tuple[int, int, list[Finding]]:
    """(cases, events, findings) for the cases with ids ``first`` to ``last`` (a worker's task)."""
    database = ReadOnlyDatabase(url, url_setting=DATABASE_URL)
    cases = events = 0
    found: list[Finding] = []
    try:
        with database.begin() as connection:
            definitions = _definitions(connection, url)
            for start in range(first, last + 1, CASE_BATCH):
                end = min(start + CASE_BATCH - 1, last)
                batch = audit_rows.cases_between(connection, start, end)
                if not batch:
                    continue
                counted, problems = _replay_batch(connection, definitions, batch)
                cases += len(batch)
                events += counted
                found.extend(problems)
    finally:
        database.dispose()
    return cases, events, found


def _replay_ids(connection: Connection, definitions: Definitions, ids: Sequence[int]) -> tuple[int, int, list[Finding]]:
    cases = events = 0
    found: list[Finding] = []
    for start in range(0, len(ids), CASE_BATCH):
        chunk = list(ids[start:start + CASE_BATCH])
        batch = audit_rows.cases_by_id(connection, chunk)
        counted, problems = _replay_batch(connection, definitions, batch) if batch else (0, [])
        cases += len(batch)
        events += counted
        found.extend(problems)
    return cases, events, found


# -- the run -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Anchors:
    """The checkpoints a run checks, and the key it checks their signatures with."""

    key: Ed25519PublicKey | None
    given: Sequence[tuple[str, TreeHead]] = ()
    """(where, checkpoint) of the files given with --checkpoint."""
    folder: Sequence[tuple[str, TreeHead]] = ()
    """(where, checkpoint) found in the checkpoint folder."""


def verify(url: str, number: str | None = None, *, anchors: Anchors, incremental: bool = False,
           jobs: int | None = None) -> VerifyReport:
    """Check the database at ``url`` (read-only); ``number`` limits the case replay to one case."""
    database = ReadOnlyDatabase(url, url_setting=DATABASE_URL)
    try:
        with database.begin() as connection:
            mode = "case" if number else ("incremental" if incremental else "full")
            report = VerifyReport(mode)
            definitions = Definitions(audit_rows.definition_rows(connection))
            _WORKER_DEFINITIONS[url] = definitions
            _check_definitions(connection, definitions, report)
            _check_staff(connection, report)
            held = log_rows.checkpoints(connection)
            trusted = _check_signatures(held, anchors, report)
            size, frontier = log_rows.head(connection)
            report.tree_size, report.root = size, fold(frontier).hex()
            if number:
                _verify_one(connection, definitions, number, report)
                _check_prefixes_by_proof(connection, trusted, size, report)
                return _sorted(report)
            anchor = _anchor(trusted, size) if incremental else None
            if incremental and anchor is None:
                report.mode = "full (no checkpoint to start from)"
            start = anchor.size if anchor is not None else 0
            bounds = audit_rows.case_id_bounds(connection)
            # --jobs N > 1 asks for processes; by default they start only where they pay.
            parallel = anchor is None and bounds is not None and (
                jobs > 1 if jobs is not None else audit_rows.count_cases(connection) >= PARALLEL_FROM)
            pending = _start_workers(url, bounds, jobs) if parallel else None
            try:
                _check_tree(connection, start, anchor, trusted, report)
            except BaseException:
                if pending is not None:
                    pending[0].terminate()
                raise
            _check_numbers(connection, report, full=anchor is None)
            for case_id, idx in audit_rows.orphan_leaf_cases(connection):
                report.add("log", f"log leaf {idx} holds an event of case id {case_id}, which is not in the database "
                                  "(a deleted case)")
            if anchor is not None:
                ids = log_rows.case_ids_from(connection, start)
                cases, events, found = _replay_ids(connection, definitions, ids)
            elif pending is not None:
                cases, events, found = _collect(pending)
            else:
                cases, events, found = (0, 0, [])
                if bounds is not None:
                    cases, events, found = _replay_here(connection, definitions, *bounds)
            report.cases, report.events = cases, events
            for finding in found:
                report.add("case", finding.reason, finding.number, finding.seq)
            _check_prefixes_by_proof(connection, trusted, size, report)
            return _sorted(report)
    finally:
        database.dispose()


def _replay_here(connection: Connection, definitions: Definitions, first: int,
                 last: int) -> tuple[int, int, list[Finding]]:
    cases = events = 0
    found: list[Finding] = []
    for start in range(first, last + 1, CASE_BATCH):
        end = min(start + CASE_BATCH - 1, last)
        batch = audit_rows.cases_between(connection, start, end)
        if batch:
            counted, problems = _replay_batch(connection, definitions, batch)
            cases += len(batch)
            events += counted
            found.extend(problems)
    return cases, events, found


def _start_workers(url: str, bounds: tuple[int, int] | None, jobs: int | None) -> Any:
    import multiprocessing

    assert bounds is not None
    count = jobs or os.cpu_count() or 1
    first, last = bounds
    pieces = max(count * 4, 1)
    width = max((last - first + 1 + pieces - 1) // pieces, 1)
    ranges = [(url, start, min(start + width - 1, last)) for start in range(first, last + 1, width)]
    pool = multiprocessing.get_context("spawn").Pool(count)
    return pool, pool.starmap_async(replay_range, ranges)


def _collect(pending: Any) -> tuple[int, int, list[Finding]]:
    pool, result = pending
    try:
        parts = result.get()
    finally:
        pool.close()
        pool.join()
    cases = sum(part[0] for part in parts)
    events = sum(part[1] for part in parts)
    found = [finding for part in parts for finding in part[2]]
    return cases, events, found


def _verify_one(connection: Connection, definitions: Definitions, number: str, report: VerifyReport) -> None:
    from engine.store import case_rows

    case = case_rows.case_by_number(connection, number)
    if case is None:
        raise NotFound(f"case {number!r} not found", field="case", value=case_number_key(number))
    cases, events, found = _replay_ids(connection, definitions, [case.id])
    report.cases, report.events = cases, events
    for finding in found:
        report.add("case", finding.reason, finding.number, finding.seq)


def _check_definitions(connection: Connection, definitions: Definitions, report: VerifyReport) -> None:
    logged = {(workflow, version): (idx, digest, leaf)
              for idx, workflow, version, digest, leaf in audit_rows.deploy_leaves(connection)}
    for (workflow, version), (digest, _bundle) in sorted(definitions.rows.items()):
        label = f"version {version} of workflow {workflow!r}"
        if definitions.computed[(workflow, version)] != digest:
            report.add("definition", f"{label}: its stored bundle does not have its digest {digest[:12]}… (the "
                                     "definition was edited in the database)")
        entry = logged.pop((workflow, version), None)
        if entry is None:
            report.add("definition", f"{label} is not in the transparency log (deployed behind the engine's back)")
        elif entry[1] != digest or deploy_entry(workflow, version, entry[1]).leaf().hex() != entry[2]:
            report.add("definition", f"{label}: its digest {digest[:12]}… is not the one log leaf {entry[0]} holds "
                                     f"({entry[1][:12]}…): the deployed definition was swapped")
    for (workflow, version), (idx, _digest, _leaf) in sorted(logged.items()):
        report.add("definition", f"version {version} of workflow {workflow!r} is in the log (leaf {idx}) but not in "
                                 "the database (a deployed definition was deleted)")


def _check_staff(connection: Connection, report: VerifyReport) -> None:
    """Each account as stored against the newest staff leaf of its username (``engine.app.account_seals``)."""
    sealed = staff_seals.newest_staff_leaves(connection)
    for username, state in sorted(staff_seals.account_states(connection).items()):
        entry = sealed.pop(username, None)
        if entry is None:
            report.add("staff", f"staff {username!r} is not in the transparency log (added behind the engine's back)")
        elif staff_entry(username, entry[1]).leaf().hex() != entry[2]:
            report.add("staff", f"staff {username!r}: log leaf {entry[0]} does not hold the account it names "
                                "(the leaf row was edited)")
        elif entry[1] != state:
            report.add("staff", f"staff {username!r}: the account (name, contacts, active, roles and scope, password "
                                f"or API tokens) is not what log leaf {entry[0]} sealed: changed behind the engine's "
                                "back")
    for username, (idx, _state, _leaf) in sorted(sealed.items()):
        report.add("staff", f"staff {username!r} is in the log (leaf {idx}) but not in the database (an account "
                            "was deleted)")


def _check_signatures(held: Sequence[TreeHead], anchors: Anchors, report: VerifyReport) -> list[TreeHead]:
    """The checkpoints whose signatures hold (all of them, from every source); the rest become findings."""
    sources: list[tuple[str, TreeHead]] = [(f"held checkpoint of size {c.size}", c) for c in held]
    sources += [(f"checkpoint file {where}", c) for where, c in anchors.given]
    sources += [(f"checkpoint file {where}", c) for where, c in anchors.folder]
    if sources and anchors.key is None:
        from engine.app.settings import SIGNING_KEY_FILE

        report.add("checkpoint", f"{len(sources)} checkpoint(s) cannot be checked: no key (set "
                                 f"{SIGNING_KEY_FILE} or give --public-key)")
        return []
    trusted: list[TreeHead] = []
    for where, checkpoint in sources:
        assert anchors.key is not None
        if checkpoint.signature_holds(anchors.key):
            trusted.append(checkpoint)
        else:
            report.add("checkpoint", f"{where} (root {checkpoint.root[:12]}…, {checkpoint.time.isoformat()}): its "
                                     f"signature does not hold for key {key_id(anchors.key)} (forged or altered)")
    stored = {(c.size, c.root, c.signature) for c in held}
    for where, checkpoint in anchors.folder:
        if (checkpoint.size, checkpoint.root, checkpoint.signature) not in stored:
            report.add("checkpoint", f"checkpoint file {where} (size {checkpoint.size}) is not in the database (its "
                                     "row was deleted or altered)")
    report.checkpoints = len(trusted)
    unique: dict[tuple[int, str], TreeHead] = {}
    for checkpoint in trusted:
        unique.setdefault((checkpoint.size, checkpoint.root), checkpoint)
    return sorted(unique.values(), key=lambda c: (c.size, c.time))


def _anchor(trusted: Sequence[TreeHead], size: int) -> TreeHead | None:
    fitting = [c for c in trusted if c.size <= size]
    return fitting[-1] if fitting else None


def _check_tree(connection: Connection, start: int, anchor: TreeHead | None, trusted: Sequence[TreeHead],
                report: VerifyReport) -> None:
    """Re-hash the leaves from ``start`` (0, or an anchor checkpoint's size) and compare with what is stored."""
    tree = SubtreeHashes(lambda a, b: log_rows.leaf_hashes(connection, a, b),
                         lambda a, b: log_rows.chunk_hashes(connection, a, b))
    frontier: list[bytes] = []
    size = 0
    if anchor is not None:
        if tree.root(anchor.size).hex() != anchor.root:
            report.add("log", f"the log's first {anchor.size} leaves no longer give the root of the checkpoint of "
                              f"{anchor.time.isoformat()} (history before it was rewritten)")
        frontier, size = tree.frontier(anchor.size), anchor.size
    roots = {c.size: c for c in trusted if c.size > size}
    stored_chunks = log_rows.all_chunks(connection) if anchor is None else {}
    chunk_problems = 0

    def completed(level: int, index: int, value: bytes) -> None:
        nonlocal chunk_problems
        if anchor is None and level == CHUNK_LEVEL and stored_chunks.get(index) != value.hex():
            chunk_problems += 1

    gap_reported = False
    for batch in log_rows.leaves_from(connection, start):
        for leaf in batch:
            if leaf.idx != size and not gap_reported:
                report.add("log", f"log leaves {size} to {leaf.idx - 1} are missing (removed from the log)"
                           if leaf.idx > size else f"log leaf {leaf.idx} is out of order")
                gap_reported = True
            size = append(size, frontier, bytes.fromhex(leaf.leaf), completed)
            checkpoint = roots.get(size)
            if checkpoint is not None and fold(frontier).hex() != checkpoint.root:
                report.add("checkpoint", f"the checkpoint of size {size} ({checkpoint.time.isoformat()}) is not a "
                                         "prefix of today's tree: the history it covers was changed")
    if chunk_problems or (anchor is None and len(stored_chunks) != size // CHUNK):
        report.add("log", f"the log's stored subtree hashes do not match its leaves ({chunk_problems} differ, "
                          f"{len(stored_chunks)} stored for {size // CHUNK})")
    for checkpoint in roots.values():
        if checkpoint.size > size:
            report.add("checkpoint", f"the checkpoint of size {checkpoint.size} ({checkpoint.time.isoformat()}) is "
                                     f"larger than the log's {size} leaves: the log was truncated")
    root = fold(frontier).hex()
    if size != report.tree_size or root != report.root:
        report.add("log", f"the log's head (size {report.tree_size}, root {report.root[:12]}…) is not what its "
                          f"leaves give (size {size}, root {root[:12]}…)")


def _check_prefixes_by_proof(connection: Connection, trusted: Sequence[TreeHead], size: int,
                             report: VerifyReport) -> None:
    """A consistency proof from the newest checkpoint (and any given) to the stored tree's head."""
    if not trusted:
        return
    tree = SubtreeHashes(lambda a, b: log_rows.leaf_hashes(connection, a, b),
                         lambda a, b: log_rows.chunk_hashes(connection, a, b))
    head_root = bytes.fromhex(report.root) if report.root else tree.root(size)
    newest = trusted[-1]
    if newest.size > size:
        if report.mode == "case":
            report.add("checkpoint", f"the checkpoint of size {newest.size} is larger than the log's {size} leaves: "
                                     "the log was truncated")
        return
    proof = tree.consistency_proof(newest.size, size)
    if not verify_consistency(newest.size, size, bytes.fromhex(newest.root), head_root, proof):
        already = any(f["what"] in ("checkpoint", "log") for f in report.findings)
        if not already:
            report.add("checkpoint", f"no consistency proof from the checkpoint of size {newest.size} to today's tree "
                                     f"of {size} leaves: the history it covers was changed")


def _check_numbers(connection: Connection, report: VerifyReport, *, full: bool) -> None:
    """Case numbers are handed out without gaps: a number below a counter that no case has was deleted."""
    counters = audit_rows.case_number_counters(connection)
    if not full:
        expected = sum(last for _prefix, _year, last in counters)
        held = audit_rows.count_cases(connection)
        if held != expected:
            report.add("case", f"{expected} case numbers were handed out but {held} cases exist "
                               f"({'a case was deleted' if held < expected else 'a case was inserted'})")
        return
    seen: dict[tuple[str, int], set[int]] = {}
    for number in audit_rows.case_numbers_all(connection):
        head, _, rest = number.partition("-")
        year_text, _, serial = rest.partition("-")
        if year_text.isdigit() and serial.isdigit():
            seen.setdefault((head, int(year_text)), set()).add(int(serial))
    for prefix, year, last in counters:
        serials = seen.pop((prefix, year), set())
        missing = [n for n in range(1, last + 1) if n not in serials]
        for n in missing[:20]:
            report.add("case", "the case number was handed out but no case has it (a deleted case)",
                       f"{prefix}-{year}-{n:06d}")
        if len(missing) > 20:
            report.add("case", f"and {len(missing) - 20} more case numbers of {prefix}-{year} are missing")
        for n in sorted(n for n in serials if n > last):
            report.add("case", f"the case is numbered past the last number handed out ({last}): inserted behind the "
                               "engine's back", f"{prefix}-{year}-{n:06d}")
    for (other, other_year), serials in seen.items():
        report.add("case", f"{len(serials)} case(s) numbered {other}-{other_year}-… but no such number was ever handed "
                           "out (inserted behind the engine's back)")


def _sorted(report: VerifyReport) -> VerifyReport:
    order = {"definition": 0, "checkpoint": 1, "log": 2, "case": 3}
    report.findings.sort(key=lambda f: (order.get(f["what"], 9), f["number"] or "", f["seq"] or 0))
    return report


def checkpoint_anchors(key: Ed25519PublicKey | None, given: Iterable[Path], folder: Path | None) -> Anchors:
    """The anchors of a run: the given checkpoint files and those in the checkpoint folder."""
    from engine.app.transparency import folder_checkpoints, read_checkpoint_file

    files = [(str(path), read_checkpoint_file(path)) for path in given]
    found = [(str(path), checkpoint) for path, checkpoint in folder_checkpoints(folder)] if folder else []
    return Anchors(key, files, found)
