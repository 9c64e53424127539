"""Migrating the running cases of older versions in batches: resumable, and safe to run twice at once.

A kabupaten's backlog after a definition change is tens of thousands of running cases; moving them
in one transaction would hold the write lock (SQLite) or thousands of row locks (PostgreSQL) for
minutes while staff cannot move a case. Here each batch (``BATCH_SIZE`` cases) is its own short
write transaction:

1. the run counts the workflow's cases on older versions by (version, state) in one grouped
   statement (``case_rows.version_state_counts``, an index range) and keeps the running groups
   whose state the map sends to a state of the target version (again whenever the batches have
   emptied those groups, until a count finds none);
2. a batch takes the first cases of those groups by id, locked (``case_rows.lock_group``: PostgreSQL
   waits for a case another transaction is changing and leaves it out if it left the group
   meanwhile; SQLite's write transaction holds the database already), and writes each through
   ``write`` (``Commands.migrate_case``: one ``migrasi`` event in its history, as every migration does);
3. it records the batch in the administrators' record, appends the batch's entries to the
   transparency log in one statement (so the log head, which every staff move takes too, is held
   only from there to the commit), and commits.

A migrated case is on the target version, so no later batch (of this run, a resumed run, or another
administrator's run at the same time) takes it again: a crash or kill between batches leaves the
migrated cases migrated and the rest on their old version, and running it again continues with the
rest. A case staff moved after the plan was shown is migrated by the state it is in when its batch
takes it; one moved into a state the map leaves unmapped is left on its old version and reported
(``MigrationProgress.unmapped``, with the reason), never half-moved. Before the first batch the run
is refused (InvalidInput, nothing written) while any running state is unmapped.
"""

from __future__ import annotations

import difflib
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from engine.app import administration
from engine.app.runtime import Runtime
from engine.compile.workflow import CompiledWorkflow
from engine.core.log_entries import LogEntry
from engine.core.permissions import capable_role
from engine.core.records import CaseRecord
from engine.definition.model import WorkflowDefinition
from engine.errors import InvalidInput
from engine.store import case_rows, log_rows

class CaseWrite(Protocol):
    """The one write of a migration for one case (``Commands.migrate_case``); with ``log``, its transparency
    log entry is added to that list instead of appended to the log."""

    def __call__(self, connection: Connection, target: CompiledWorkflow, actor: str, role: str, case: CaseRecord,
                 new_state: str, now: datetime, *, log: list[LogEntry] | None = None) -> CaseRecord: ...

BATCH_SIZE = 200
"""How many cases one batch (one write transaction) migrates: about 0.1 s of SQLite's write lock, or
0.2-0.8 s of 200 cases' row locks on PostgreSQL (bench/migration.py); smaller batches make the
run no faster, larger ones hold the locks longer."""
BATCH_PAUSE_S = 0.1
"""On SQLite, the longest pause between two full batches. SQLite lets writers in in no order: a
waiting one polls, sleeping longer the longer it has waited (up to 100 ms between tries), so a run
that took the write lock again at once would keep a staff member's move waiting. Between two
batches a run pauses half as long as the last one took (at most this), long enough for a move
that waited through that batch to get in. PostgreSQL queues lock waiters in order (and a batch
holds only its own cases' rows and, for its last statement, the log head), so it needs none."""
RECORDED_NUMBERS = 20
"""How many case numbers of a batch its entry in the administrators' record names."""


@dataclass(frozen=True, slots=True)
class LeftGroup:
    """Running cases of one (version, state) left on their old version after a run, and why."""

    version: int
    state: str
    count: int
    reason: str


@dataclass(slots=True)
class MigrationProgress:
    """Where a batched migration stands: after each batch (``after_batch``) and when it is done."""

    workflow: str
    to_version: int
    migrated: int = 0
    """Cases this run migrated."""
    batches: int = 0
    """Batches this run committed."""
    done: bool = False
    interrupted: bool = False
    """The run ended before it was through (an error, a stop): run it again to continue."""
    left: int = 0
    """Running cases still on older versions when the run ended (0 while it runs)."""
    unmapped: tuple[LeftGroup, ...] = ()
    """The groups left because their state is not mapped (staff moved them there during the run)."""
    moved: list[tuple[str, str]] = field(default_factory=list)
    """(number, new state) of each migrated case, when the run was asked to keep them."""


_BOARD: weakref.WeakKeyDictionary[Runtime, dict[str, MigrationProgress]] = weakref.WeakKeyDictionary()
_BOARD_LOCK = threading.Lock()


def _post(runtime: Runtime, progress: MigrationProgress) -> None:
    """Keep ``progress`` (without its numbers) as the latest of its workflow's runs on ``runtime``."""
    with _BOARD_LOCK:
        _BOARD.setdefault(runtime, {})[progress.workflow] = replace(progress, moved=[])


def latest_run(runtime: Runtime, workflow: str) -> MigrationProgress | None:
    """Where the last migration of ``workflow`` this process ran on ``runtime`` stands (``done`` False: under
    way, as of its last batch), for a page to show; None when there was none."""
    with _BOARD_LOCK:
        return _BOARD.get(runtime, {}).get(workflow)


def running_groups(runtime: Runtime, connection: Connection, workflow: str,
                   below: int) -> list[tuple[int, str, int]]:
    """(version, state, count) of ``workflow``'s running cases (not in a final state of their own version)
    on versions older than ``below``, by version and state; one grouped statement."""
    found = []
    for version, state, count in case_rows.version_state_counts(connection, workflow, below):
        own = runtime.compiled(connection, workflow, version).definition.states.get(state)
        if own is None or not own.final:
            found.append((version, state, count))
    return found


def check_state_map(target: WorkflowDefinition, state_map: Mapping[str, str]) -> None:
    """Every state a migration renames to must exist in the target version; all wrong ones are named."""
    problems = []
    for old, new in state_map.items():
        if new not in target.states:
            close = difflib.get_close_matches(new, list(target.states), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"--map {old}={new}: version {target.version} of workflow {target.name!r} has no state "
                            f"{new!r}; its states are {', '.join(target.states)}{hint}")
    if problems:
        raise InvalidInput("\n".join(problems), field="map", accepted=list(target.states))


def migrate_running(runtime: Runtime, write: CaseWrite, workflow: str, to_version: int,
                    state_map: Mapping[str, str], actor: str, *, batch_size: int = BATCH_SIZE,
                    keep_numbers: bool = False, after_batch: Callable[[MigrationProgress], None] | None = None,
                    pause_s: float | None = None) -> MigrationProgress:
    """Move every running case of ``workflow`` on a version older than ``to_version`` to it, ``state_map``
    renaming states (a state not named keeps its name), ``batch_size`` cases per transaction.

    ``after_batch`` is called with the progress after each committed batch and once more when done
    (an exception it raises ends the run there: what was committed stays). ``pause_s`` (default
    ``BATCH_PAUSE_S`` on SQLite, none on PostgreSQL) caps the pause between two full batches (half
    the last one's time), so staff moves get the write lock. Refused before anything is written
    when the target version or the actor's ``migrate`` capability is missing, the map names a state
    the target lacks, or a running case is in a state that is neither mapped nor in the target
    version.
    """
    if batch_size < 1:
        raise InvalidInput(f"bad batch size {batch_size}; give a whole number of at least 1", field="batch_size")
    renames = dict(state_map)

    def prepare(connection: Connection) -> str:
        target = runtime.compiled(connection, workflow, to_version)
        member = runtime._staff(connection, actor, workflow)
        role = capable_role(member, target.definition.roles, "migrate", "migrate cases")
        check_state_map(target.definition, renames)
        states = target.definition.states
        for version, state, _ in running_groups(runtime, connection, workflow, to_version):
            if renames.get(state, state) not in states:
                first = case_rows.numbers_in_group(connection, workflow, version, state, limit=1)
                number = first[0][1] if first else f"(version {version})"
                raise InvalidInput(
                    f"case {number} is in state {state!r}, which version {to_version} does not have; map it "
                    f"with --map {state}=STATE (states: {', '.join(states)})", field=f"peta.{state}", value=state,
                    accepted=tuple(states))
        return role

    role = runtime.db.read(prepare)
    progress = MigrationProgress(workflow, to_version)
    pause = pause_s if pause_s is not None else (BATCH_PAUSE_S if runtime.db.is_sqlite else 0.0)
    took = 0.0

    def eligible(connection: Connection) -> list[tuple[int, str, str]]:
        """(version, state, new state) of the running groups the map sends to a state of the target."""
        states = runtime.compiled(connection, workflow, to_version).definition.states
        return [(version, state, renames.get(state, state))
                for version, state, _ in running_groups(runtime, connection, workflow, to_version)
                if renames.get(state, state) in states]

    def batch(groups: list[tuple[int, str, str]]) -> Callable[[Connection], tuple[list[tuple[str, str]], int]]:
        def work(connection: Connection) -> tuple[list[tuple[str, str]], int]:
            """Up to ``batch_size`` cases of ``groups``, in order, migrated; and how many groups it emptied."""
            target = runtime.compiled(connection, workflow, to_version)
            now = runtime.clock()
            locked: list[tuple[CaseRecord, str]] = []
            emptied = 0
            for version, state, new_state in groups:
                wanted = batch_size - len(locked)
                found = case_rows.lock_group(connection, workflow, version, state, limit=wanted)
                locked += [(case, new_state) for case in found]
                if len(found) == wanted:
                    break
                emptied += 1
            taken: list[tuple[str, str]] = []
            entries: list[LogEntry] = []
            for case, new_state in locked:
                write(connection, target, actor, role, case, new_state, now, log=entries)
                taken.append((case.number, new_state))
            if taken:
                administration.record(runtime, connection, actor, "migration", workflow,
                                      {"to_version": to_version, "cases": len(taken),
                                       "numbers": [number for number, _ in taken[:RECORDED_NUMBERS]],
                                       "state_map": renames})
                # Last, in one statement: the log head (which every move of staff also takes) stays
                # locked only from here to the commit, and the batch's cases were all locked before it,
                # the same order (cases, then the log) as a move's, so the two never deadlock.
                log_rows.append(connection, entries)
            return taken, emptied

        return work

    # The groups are counted once, and again whenever the batches have emptied them all: then the
    # count also finds the cases staff moved into another mapped state meanwhile, and those another
    # run was still holding when a batch looked (PostgreSQL leaves out a case that left its group
    # while the batch waited for its lock). A count that finds none ends the run.
    groups: list[tuple[int, str, str]] = []
    full = False
    try:
        while True:
            if not groups:
                groups = runtime.db.read(eligible)
                if not groups:
                    break
            if full and pause > 0:
                time.sleep(min(pause, took / 2))
            started = time.monotonic()
            taken, emptied = runtime.db.transaction(batch(groups))
            took = time.monotonic() - started
            groups = groups[emptied:]
            full = len(taken) == batch_size
            if taken:
                progress.migrated += len(taken)
                progress.batches += 1
                if keep_numbers:
                    progress.moved.extend(taken)
                _post(runtime, progress)
                if after_batch is not None:
                    after_batch(progress)
    except BaseException:
        progress.interrupted = progress.done = True
        _post(runtime, progress)
        raise

    def outcome(connection: Connection) -> tuple[int, tuple[LeftGroup, ...]]:
        states = runtime.compiled(connection, workflow, to_version).definition.states
        groups = running_groups(runtime, connection, workflow, to_version)
        unmapped = tuple(LeftGroup(version, state, count,
                                   f"keadaan {state!r} tidak dipetakan ke keadaan versi {to_version}")
                         for version, state, count in groups if renames.get(state, state) not in states)
        return sum(count for _, _, count in groups), unmapped

    progress.left, progress.unmapped = runtime.db.read(outcome)
    progress.done = True
    _post(runtime, progress)
    if after_batch is not None:
        after_batch(progress)
    return progress
