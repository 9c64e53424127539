"""Two real ``treckk serve`` processes sharing one PostgreSQL database split the work, doing nothing twice.

2,000 cases are overdue in ``ditelaah``: each has one escalation step due, which queues one
reminder e-mail to the Kepala Bidang. Both runners scan and deliver at once (SKIP LOCKED claims,
unique escalation keys, delivery leases); afterwards every step is recorded once and every
reminder reached the real SMTP server on loopback exactly once.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from bench.seed import START, add_staff, bulk_cases, new_engine
from engine.store.schema import escalations, notices
from tests.conftest import fresh_postgres_database, require_postgres
from tests.test_serve_process import wait_for

CASES = 2000


class _Mailbox:
    """An aiosmtpd handler that keeps every message id it receives."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.ids.append(str(message["X-TRECKK-Message-ID"]))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.postgres
@pytest.mark.slow
def test_two_serve_processes_escalate_and_deliver_each_once(tmp_path: Path) -> None:
    require_postgres()
    with fresh_postgres_database() as url:
        engine = new_engine(url)
        add_staff(engine)
        bulk_cases(engine, CASES, state="ditelaah", due=lambda i: START - timedelta(minutes=30 + i % 60),
                   with_events=False)
        mailbox = _Mailbox()
        controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
        controller.start()
        env = {"TRECKK_CHANNELS": "smtp,file", "TRECKK_SMTP_HOST": "127.0.0.1",
               "TRECKK_SMTP_PORT": str(controller.port), "TRECKK_DELIVERY_INTERVAL": "1",
               "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox"), "TRECKK_SCHEDULE_GRACE": "60"}
        now = START + timedelta(hours=2)  # Monday 10:00 WITA
        process_env = {**os.environ, **env, "TRECKK_DATABASE_URL": url, "TRECKK_NOW": now.isoformat(),
                       "PYTHONUNBUFFERED": "1"}
        runner_py = Path(__file__).resolve().parent.parent / "runner.py"
        runners = [subprocess.Popen([sys.executable, str(runner_py), "serve", "--scan-interval", "1"],
                                    env=process_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(2)]

        def counts() -> tuple[int, int, int]:
            with engine.db.begin() as connection:
                steps = connection.execute(select(func.count()).select_from(escalations)).scalar_one()
                queued = connection.execute(select(func.count()).select_from(notices)
                                            .where(notices.c.source == "escalation")).scalar_one()
                open_ = connection.execute(select(func.count()).select_from(notices)
                                           .where(notices.c.status != "sent")).scalar_one()
            return int(steps), int(queued), int(open_)

        try:
            started = time.monotonic()
            wait_for(lambda: counts() == (CASES, CASES, 0), "2,000 steps recorded and every notice sent",
                     timeout=240)
            elapsed = time.monotonic() - started
            for runner in runners:
                runner.send_signal(signal.SIGTERM)
            logs = [runner.communicate(timeout=60)[1] for runner in runners]
        finally:
            for runner in runners:
                if runner.poll() is None:
                    runner.kill()
            controller.stop()
        assert [runner.returncode for runner in runners] == [0, 0], logs
        with engine.db.begin() as connection:
            per_case = connection.execute(select(escalations.c.case_id, func.count())
                                          .group_by(escalations.c.case_id)).all()
            rows = connection.execute(select(notices.c.message_id, notices.c.status, notices.c.channel,
                                             notices.c.attempts)).all()
        engine.db.dispose()
        assert len(per_case) == CASES and all(n == 1 for _, n in per_case)
        smtp_ids = [r.message_id for r in rows if r.channel == "smtp"]
        assert all(r.status == "sent" and r.attempts >= 1 for r in rows)
        received = Counter(mailbox.ids)
        assert sorted(received) == sorted(smtp_ids), "every e-mail notice reached the server"
        assert len(smtp_ids) >= CASES and max(received.values()) == 1, "each e-mail delivered exactly once"
        # Both runners took part (each logs the steps it fired).
        print([log.count("fired") for log in logs])
        print(f"two runners: {CASES} steps and {len(smtp_ids)} e-mails in {elapsed:.1f} s")
