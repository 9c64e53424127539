"""Notice bodies stored once each, compressed, provable by digest; retention prunes delivered ones only.

Real databases (SQLite and PostgreSQL), the fake clock, the file channel under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from engine.adapters.scheduler import Scheduler
from engine.app.commands import Commands
from engine.app.settings import Settings
from engine.errors import InvalidInput, Unavailable
from engine.store import body_rows, notice_rows
from engine.store.migrations import downgrade, upgrade
from engine.store.schema import notice_bodies, notice_dictionaries, notices
from tests.conftest import COMPLAINT, FakeClock

Cli = Any


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL", "TRECKK_OUTBOX_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)


def all_notices(engine: Commands) -> list[notice_rows.NoticeRow]:
    return engine.db.transaction(notice_rows.list_notices)


def count(engine: Commands, table: Any) -> int:
    return int(engine.db.transaction(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()))


def test_a_body_is_stored_once_compressed_and_each_notice_keeps_its_digest(engine: Commands) -> None:
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    rows = all_notices(engine)
    assert len(rows) == 2 and all(row.body for row in rows)
    for row in rows:
        assert row.body is not None and row.body_digest == hashlib.sha256(row.body.encode("utf-8")).hexdigest()
    # The same body queued again (another notice carrying it) is not stored twice.
    with engine.db.begin() as connection:
        again = body_rows.store(connection, [rows[0].body or "", rows[0].body or ""], None)
    assert again == [rows[0].body_digest] * 2 and count(engine, notice_bodies) == 2
    assert count(engine, notice_dictionaries) == 1  # one per deployed bundle
    stored = engine.db.transaction(lambda c: c.execute(select(func.sum(func.length(notice_bodies.c.content))))
                                   .scalar_one())
    assert stored * 3 < sum(len((row.body or "").encode("utf-8")) for row in rows)


def test_a_damaged_body_is_refused_naming_its_digest(engine: Commands) -> None:
    engine.submit("admin", COMPLAINT)
    (row,) = all_notices(engine)
    with engine.db.begin() as connection:
        other = body_rows.compress("Teks lain yang tidak pernah dikirim.\n", None)
        connection.execute(update(notice_bodies).where(notice_bodies.c.digest == bytes.fromhex(row.body_digest))
                           .values(content=other, dictionary=None))
    with pytest.raises(Unavailable, match=f"sha256:{row.body_digest} is damaged"):
        engine.db.transaction(lambda c: notice_rows.by_id(c, row.id))


def _sent_and_pending(engine: Commands, clock: FakeClock) -> tuple[str, list[notice_rows.NoticeRow]]:
    """A case whose two first notices were delivered 40 days ago, and a third pending one."""
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    assert engine.deliver().sent == 2
    clock.advance(days=40)
    engine.advance(case.number, "minta_verifikasi", "kabid")
    return case.number, all_notices(engine)


def test_retention_prunes_delivered_bodies_and_keeps_rows_digests_and_history(engine: Commands, clock: FakeClock,
                                                                              cli: Cli) -> None:
    number, before = _sent_and_pending(engine, clock)
    sent = [row for row in before if row.status == "sent"]
    pending = [row for row in before if row.status == "pending"]
    assert len(sent) == 2 and pending
    history = engine.db.transaction(lambda c: c.execute(text("SELECT count(*) FROM events")).scalar_one())

    assert engine.prune_notice_bodies(timedelta(days=60)) == 0  # nothing delivered that long ago
    assert engine.prune_notice_bodies(timedelta(days=30)) == 2
    after = {row.id: row for row in all_notices(engine)}
    for row in sent:  # the row, its digest and its delivery record stay; the body went
        kept = after[row.id]
        assert kept.pruned and kept.body is None
        assert (kept.body_digest, kept.status, kept.sent_at, kept.subject) == (row.body_digest, "sent", row.sent_at,
                                                                               row.subject)
    assert all(after[row.id].body == row.body for row in pending)
    assert engine.prune_notice_bodies(timedelta(days=30)) == 0

    shown = cli("notices", "show", str(sent[0].id))
    assert shown.code == 0 and f"deleted after delivery (retention); it was the text with sha256:" \
                               f"{sent[0].body_digest}" in shown.out
    view = json.loads(cli("notices", "show", str(sent[0].id), "--json").out)
    assert (view["pruned"], view["body"], view["body_digest"]) == (True, None, sent[0].body_digest)
    assert cli("verify", number).code == 0
    assert len(json.loads(cli("history", number, "--json").out)) == history
    assert engine.db.transaction(lambda c: c.execute(text("SELECT count(*) FROM events")).scalar_one()) == history


def test_a_body_a_waiting_notice_still_needs_is_kept(engine: Commands, clock: FakeClock) -> None:
    engine.submit("admin", COMPLAINT)
    assert engine.deliver().sent == 1
    (sent,) = all_notices(engine)
    clock.advance(days=40)
    with engine.db.begin() as connection:  # the same text queued again, not delivered yet
        notice_rows.insert_notices(connection, [{
            **{name: getattr(sent, name) for name in notice_rows._NOTICE_FIELDS if name != "body_digest"},
            "message_id": "again@treckk", "body": sent.body, "status": "pending", "sent_at": None}])
    assert engine.prune_notice_bodies(timedelta(days=30)) == 0
    assert all(row.body == sent.body for row in all_notices(engine))


def test_the_prune_command_and_the_retention_setting(engine: Commands, clock: FakeClock, cli: Cli,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _sent_and_pending(engine, clock)
    refused = cli("notices", "prune")
    assert refused.code == 2 and "TRECKK_OUTBOX_RETENTION_DAYS" in refused.err and refused.out == ""
    assert cli("notices", "prune", "--older-than", "0").code == 2
    monkeypatch.setenv("TRECKK_OUTBOX_RETENTION_DAYS", "45")
    assert json.loads(cli("notices", "prune", "--json").out) == {"pruned": 0, "older_than_days": 45.0}
    done = cli("notices", "prune", "--older-than", "30")
    assert done.code == 0 and done.out.startswith("2 notice bod")
    monkeypatch.setenv("TRECKK_OUTBOX_RETENTION_DAYS", "nol")
    assert cli("notices", "prune").code == 2
    with pytest.raises(InvalidInput, match="TRECKK_OUTBOX_RETENTION_DAYS"):
        Settings.from_environment({"TRECKK_OUTBOX_RETENTION_DAYS": "0"})
    assert Settings.from_environment({}).outbox_retention_days is None
    assert Settings.from_environment({"TRECKK_OUTBOX_RETENTION_DAYS": "90"}).outbox_retention_days == 90


def test_serve_prunes_on_its_catch_up_with_a_retention(engine: Commands, clock: FakeClock) -> None:
    _sent_and_pending(engine, clock)
    assert Scheduler(engine).catch_up().pruned == 0  # no retention: every body kept
    assert not any(row.pruned for row in all_notices(engine))
    result = Scheduler(engine, retention=timedelta(days=30)).catch_up()
    assert result.pruned == 2 and sum(row.pruned for row in all_notices(engine)) == 2


def test_revision_0004_converts_the_outbox_both_ways(database_url: str) -> None:
    from engine.store.database import Database

    db = Database(database_url)
    try:
        upgrade(db, "0002")
        texts = ["Tanda terima aduan ADU-1\n\nIsi yang sama.\n", "Tanda terima aduan ADU-1\n\nIsi yang sama.\n",
                 "Aduan baru ADU-1\n\nUntuk Kepala Bidang.\n"]
        with db.begin() as connection:
            for index, body in enumerate(texts, start=1):
                connection.execute(text(
                    "INSERT INTO notices (id, message_id, source, template, recipient_kind, recipient_name, channel, "
                    "subject, body, is_html, status, attempts, created_at) VALUES (:id, :mid, 'event', 't.txt.j2', "
                    "'staff', 'Kabid', 'file', :subject, :body, false, 'sent', 1, '2026-11-30 00:00:00')"),
                    {"id": index, "mid": f"m{index}", "subject": body.split("\n")[0], "body": body})
        upgrade(db)
        with db.begin() as connection:
            rows = notice_rows.list_notices(connection)
            assert [row.body for row in rows] == texts
            assert [row.body_digest for row in rows] == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
            assert connection.execute(select(func.count()).select_from(notice_bodies)).scalar_one() == 2
            # Retention deleted one of them before going back.
            connection.execute(notice_bodies.delete().where(notice_bodies.c.digest == bytes.fromhex(rows[2].body_digest)))
        downgrade(db, "0002")
        with db.begin() as connection:
            back = [row[0] for row in connection.execute(text("SELECT body FROM notices ORDER BY id"))]
        assert back[:2] == texts[:2]
        assert back[2] == f"[deleted after delivery (retention); sha256:{rows[2].body_digest}]"
        upgrade(db)
        with db.begin() as connection:
            assert connection.execute(select(func.count()).select_from(notices)).scalar_one() == 3
    finally:
        db.dispose()
