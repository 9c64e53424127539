"""Sealing staff accounts in the transparency log after the engine changes them.

Every command that changes what an account may do or how it logs in (added, roles or scope or
contacts changed, disabled or enabled, a password set, a token made or revoked) ends with
``seal_accounts`` in the same transaction: one staff leaf per account changed, holding the digest
of the account as it now stands. ``treckk verify`` recomputes each account's digest and compares it
with the newest staff leaf of that username, so a change made behind the engine's back is found.
Called last in a transaction: from its append to the commit the log head stays locked.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from engine.core.log_entries import staff_entry
from engine.store import log_rows
from engine.store.staff_seals import account_states


def seal_accounts(connection: Connection, usernames: Sequence[str]) -> None:
    """Append a staff leaf for each of ``usernames`` as the caller's transaction now holds it."""
    states = account_states(connection, usernames)
    if states:
        log_rows.append(connection, [staff_entry(username, states[username]) for username in sorted(states)])
