"""APScheduler wiring for ``treckk serve``: the escalation scan, notice delivery, periodic notices.

APScheduler only decides *when* to look; the database is the record of every deadline and of
every schedule run. Jobs live in the in-memory job store, and:

- the escalation scan (``Commands.escalate``) runs every ``scan_interval`` seconds;
- notice delivery (``engine.notices.delivery.deliver_due``, when that module exists) every
  ``delivery_interval`` seconds;
- with an outbox retention set (``Settings.outbox_retention_days``), the bodies of notices delivered longer
  ago are pruned every ``PRUNE_INTERVAL`` seconds (``Commands.prune_notice_bodies``);
- the public throttles' record of attempts older than a day is deleted every ``PRUNE_INTERVAL``
  seconds (``PublicDesk.forget_attempts``);
- with a witness URL set, the newest checkpoint the witness is owed is POSTed to it (every
  ``WITNESS_INTERVAL`` seconds while one is due, and right after each checkpoint);
- each schedule of each deployed workflow's newest definition is a cron job in the workflow's
  time zone. Its run is claimed in ``schedule_runs`` (unique per schedule and fire time) in the
  same transaction that queues its notices (``Commands.run_schedule``).

On start, ``catch_up`` runs once before anything else: a full escalation scan (every step that
fell due while nothing ran fires once, in order), then, for each schedule, its latest fire time
within the grace period (``schedule_grace``, default 6 hours: a digest due at 07:00 is still
sent by a runner started at 12:59, not by one started in the afternoon) unless that run is
already recorded. Missed fire times are coalesced: a runner down for three days sends one digest,
not three. APScheduler's own misfire handling uses the same grace and ``coalesce``. ``serve``
takes the intervals and the grace from the application's settings (``engine.app.settings``).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.app.assembly import Application
from engine.app.escalation import EscalationFired
from engine.app.reports import ScheduleRun
from engine.app.commands import Commands
from engine.app.settings import DEFAULT_DELIVERY_INTERVAL, DEFAULT_SCAN_INTERVAL, DEFAULT_SCHEDULE_GRACE
from engine.notices.delivery import DeliveryReport

__all__ = ["CatchUp", "Scheduler", "latest_fire_time", "serve"]

log = logging.getLogger("treckk.scheduler")

INBOX_INTERVAL = 2.0
"""Seconds between two looks at what the WhatsApp webhook stored (a conversation waits on it)."""

PRUNE_INTERVAL = 3600
WITNESS_INTERVAL = 60
"""Seconds between tries to send the witness a checkpoint it is owed (each send backs off on its own)."""
"""Seconds between two retention passes in ``serve`` (a pass with nothing to prune is one query)."""


def latest_fire_time(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """The last fire time of ``trigger`` in ``(now - grace, now]``, or None."""
    latest = None
    candidate = trigger.get_next_fire_time(None, now - grace)
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = trigger.get_next_fire_time(None, candidate + timedelta(seconds=1))
    return latest


@dataclass
class CatchUp:
    """What one catch-up pass did."""

    escalations: list[EscalationFired] = field(default_factory=list)
    schedules: list[ScheduleRun] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    pruned: int = 0
    """Notice bodies retention deleted."""
    inbox: object = None
    """What processing the WhatsApp inbox did (``engine.app.whatsapp.Processed``), when it ran."""


@dataclass(frozen=True, slots=True)
class _ScheduleJob:
    workflow: str
    schedule: str
    trigger: CronTrigger


class Scheduler:
    """The periodic work of one runner; several runners may share a database safely."""

    def __init__(self, engine: Commands, *, scan_interval: float = DEFAULT_SCAN_INTERVAL,
                 delivery_interval: float = DEFAULT_DELIVERY_INTERVAL,
                 schedule_grace: timedelta = DEFAULT_SCHEDULE_GRACE, limit: int = 1000,
                 checkpoint: Callable[[], object] | None = None, checkpoint_interval: float = 3600.0,
                 witness: Callable[[], object] | None = None,
                 retention: timedelta | None = None, inbox: Callable[..., Any] | None = None,
                 forget_attempts: Callable[[], int] | None = None) -> None:
        """``checkpoint`` (when given) signs and sends a transparency-log checkpoint every ``checkpoint_interval`` s;
        ``witness`` (when given) sends the newest checkpoint owed to the witness, tried every
        ``WITNESS_INTERVAL`` s and right after each checkpoint;
        ``retention``: how long a delivered notice keeps its body (None: for ever); ``inbox`` (when given)
        processes what the WhatsApp webhook stored (``WhatsAppDesk.process``), every ``INBOX_INTERVAL`` s;
        ``forget_attempts`` (when given) deletes the public throttles' old record, every ``PRUNE_INTERVAL`` s."""
        if scan_interval <= 0 or delivery_interval <= 0:
            from engine.errors import InvalidInput

            raise InvalidInput("scan and delivery intervals must be positive numbers of seconds")
        self.engine = engine
        self.scan_interval = scan_interval
        self.delivery_interval = delivery_interval
        self.schedule_grace = schedule_grace
        self.limit = limit
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.witness = witness
        self.forget_attempts = forget_attempts
        self.retention = retention
        self.inbox = inbox
        self.stopping = threading.Event()
        self._versions: tuple[tuple[str, int], ...] = ()
        self._schedules: list[_ScheduleJob] = []
        self._apscheduler: BackgroundScheduler | None = None

    # -- the work ---------------------------------------------------------------------------
    def scan(self) -> list[EscalationFired]:
        """One escalation scan; logs one line when it fired something."""
        fired = self.engine.escalate(limit=self.limit, should_stop=self.stopping.is_set)
        if fired:
            shown = ", ".join(f"{f.number}#{f.step}" for f in fired[:5])
            more = f" and {len(fired) - 5} more" if len(fired) > 5 else ""
            log.info("escalation: %d step(s) fired: %s%s", len(fired), shown, more)
        for step in fired:
            for line in step.undelivered:
                log.warning("escalation %s#%d: %s", step.number, step.step, line)
        self._sync_schedules()
        return fired

    def deliver(self) -> DeliveryReport:
        """Deliver the notices that are due (the application's delivery command); a stop abandons
        the sends under way, so no receiver can hold ``serve`` after a signal."""
        return self.engine.deliver(should_stop=self.stopping.is_set)

    def checkpoint_and_witness(self) -> None:
        """Write a checkpoint (when the log grew) and offer it to the witness at once."""
        if self.checkpoint is not None:
            self.checkpoint()
        if self.witness is not None and not self.stopping.is_set():
            self.witness()

    def process_inbox(self) -> object:
        """Handle what the WhatsApp webhook stored; the replies it queued are delivered at once."""
        if self.inbox is None:
            return None
        done = self.inbox(should_stop=self.stopping.is_set)
        if getattr(done, "bodies", 0):
            log.info("whatsapp: %d body(ies), %d message(s), %d duplicate(s), %d status(es), cases %s",
                     done.bodies, done.messages, done.duplicates, done.statuses, ", ".join(done.cases) or "-")
            if not self.stopping.is_set():
                self.deliver()
        return done

    def prune(self) -> int:
        """Prune the bodies of notices delivered longer than the retention ago (nothing without one)."""
        if self.retention is None:
            return 0
        pruned = self.engine.prune_notice_bodies(self.retention, should_stop=self.stopping.is_set)
        if pruned:
            log.info("retention: %d delivered notice bod(y/ies) pruned", pruned)
        return pruned

    def run_due_schedules(self, now: datetime | None = None) -> list[ScheduleRun]:
        """Run each schedule's latest fire time within the grace period, unless it already ran."""
        self._sync_schedules()
        moment = now or self.engine.clock()
        done = []
        for job in self._schedules:
            run = self._run_schedule(job, moment)
            if run is not None:
                done.append(run)
        return done

    def catch_up(self) -> CatchUp:
        """Everything that fell due while no runner was up, once: scan, schedules, delivery."""
        result = CatchUp(escalations=self.scan())
        if self.stopping.is_set():
            return result
        result.schedules = self.run_due_schedules()
        try:
            result.inbox = self.process_inbox()
        except Exception:  # noqa: BLE001 - a bad stored body must not stop deadlines and delivery
            log.exception("processing the WhatsApp inbox failed during catch-up; it is tried again later")
        try:
            result.delivery = self.deliver()
        except Exception:  # noqa: BLE001 - a channel or delivery bug must not stop deadlines and schedules
            log.exception("delivery failed during catch-up; notices stay queued and are retried")
        if self.witness is not None:
            try:
                self.witness()
            except Exception:  # noqa: BLE001 - the witness is retried; deadlines and delivery come first
                log.exception("sending the checkpoint to the witness failed during catch-up; it is retried later")
        if self.forget_attempts is not None:
            try:
                self.forget_attempts()
            except Exception:  # noqa: BLE001 - housekeeping; it runs again at its next time
                log.exception("forgetting the public throttles' old record failed during catch-up; it runs again later")
        try:
            result.pruned = self.prune()
        except Exception:  # noqa: BLE001 - retention is housekeeping; it runs again at its next time
            log.exception("pruning delivered notice bodies failed during catch-up; it runs again later")
        return result

    def _run_schedule(self, job: _ScheduleJob, now: datetime) -> ScheduleRun | None:
        fire_at = latest_fire_time(job.trigger, now, self.schedule_grace)
        if fire_at is None:
            return None
        run = self.engine.run_schedule(job.workflow, job.schedule, fire_at, now=now)
        if run.status == "queued":
            log.info("schedule %s/%s for %s: %d notice(s) queued", job.workflow, job.schedule,
                     fire_at.isoformat(), run.notices)
        return run

    def _schedule_tick(self, job: _ScheduleJob) -> None:
        # The database, not this trigger, decides whether the run happens: the fire time is
        # recomputed from the clock and claimed in schedule_runs, so a second runner is a no-op.
        self._run_schedule(job, self.engine.clock())

    def _sync_schedules(self) -> None:
        """(Re)build the schedule list when a workflow's newest deployed version changes."""
        versions = self.engine.latest_versions()
        if versions == self._versions:
            return
        jobs = []
        for workflow, version in versions:
            definition = self.engine.definition_of(workflow, version)
            for spec in definition.schedules:
                jobs.append(_ScheduleJob(workflow, spec.name,
                                         CronTrigger.from_crontab(spec.cron, timezone=definition.timezone)))
        self._versions, self._schedules = versions, jobs
        if self._apscheduler is not None:
            self._install_schedule_jobs()

    # -- APScheduler ------------------------------------------------------------------------
    def _install_schedule_jobs(self) -> None:
        assert self._apscheduler is not None
        for existing in self._apscheduler.get_jobs():
            if existing.id.startswith("schedule:"):
                existing.remove()
        grace = max(1, int(self.schedule_grace.total_seconds()))
        for job in self._schedules:
            self._apscheduler.add_job(self._guarded(partial(self._schedule_tick, job), f"schedule {job.schedule}"),
                                      job.trigger,
                                      id=f"schedule:{job.workflow}:{job.schedule}", misfire_grace_time=grace,
                                      coalesce=True, max_instances=1)

    def start(self) -> None:
        """Start the background jobs; the first scan and delivery run one interval from now."""
        scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(4)}, timezone="UTC")
        self._apscheduler = scheduler
        scheduler.add_job(self._guarded(self.scan, "escalation scan"), IntervalTrigger(seconds=self.scan_interval),
                          id="escalation", coalesce=True, max_instances=1,
                          misfire_grace_time=max(1, int(self.scan_interval)))
        scheduler.add_job(self._guarded(self.deliver, "delivery"), IntervalTrigger(seconds=self.delivery_interval),
                          id="delivery", coalesce=True, max_instances=1,
                          misfire_grace_time=max(1, int(self.delivery_interval)))
        if self.witness is not None:
            scheduler.add_job(self._guarded(self.witness, "witness"), IntervalTrigger(seconds=WITNESS_INTERVAL),
                              id="witness", coalesce=True, max_instances=1, misfire_grace_time=WITNESS_INTERVAL)
        if self.checkpoint is not None:
            scheduler.add_job(self._guarded(self.checkpoint_and_witness, "checkpoint"),
                              IntervalTrigger(seconds=self.checkpoint_interval), id="checkpoint", coalesce=True,
                              max_instances=1, misfire_grace_time=max(1, int(self.checkpoint_interval)))
        if self.inbox is not None:
            scheduler.add_job(self._guarded(self.process_inbox, "whatsapp inbox"),
                              IntervalTrigger(seconds=INBOX_INTERVAL), id="whatsapp", coalesce=True, max_instances=1,
                              misfire_grace_time=max(1, int(INBOX_INTERVAL)))
        if self.forget_attempts is not None:
            scheduler.add_job(self._guarded(self.forget_attempts, "public throttles"),
                              IntervalTrigger(seconds=PRUNE_INTERVAL), id="public_attempts", coalesce=True,
                              max_instances=1, misfire_grace_time=PRUNE_INTERVAL)
        if self.retention is not None:
            scheduler.add_job(self._guarded(self.prune, "retention"), IntervalTrigger(seconds=PRUNE_INTERVAL),
                              id="retention", coalesce=True, max_instances=1, misfire_grace_time=PRUNE_INTERVAL)
        self._sync_schedules()
        self._install_schedule_jobs()
        scheduler.start()

    def jobs(self) -> list[Job]:
        """The APScheduler jobs of a started scheduler (empty before ``start``)."""
        return self._apscheduler.get_jobs() if self._apscheduler is not None else []

    @property
    def running(self) -> bool:
        """Whether the background scheduler is running."""
        return self._apscheduler is not None and bool(self._apscheduler.running)

    def stop(self) -> None:
        """Stop taking new work, let the running job finish, and stop the scheduler."""
        self.stopping.set()
        if self._apscheduler is not None and self._apscheduler.running:
            self._apscheduler.shutdown(wait=True)

    def _guarded(self, work: Callable[[], object], name: str) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            try:
                work()
            except Exception:  # noqa: BLE001 - a failing pass must not kill the job; it runs again next time
                log.exception("%s failed; it runs again at its next time", name)

        return run


def _log_witness(send: Callable[[], Any]) -> None:
    """One send to the witness, logged when it happened."""
    attempt = send()
    if attempt is None:
        return
    if attempt.error is None:
        log.info("witness: checkpoint of %d leaves sent", attempt.size)
    else:
        log.warning("witness: checkpoint of %d leaves not taken (%s); retried at %s", attempt.size, attempt.error,
                    attempt.retry_at.isoformat() if attempt.retry_at else "the next pass")


@contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of interrupting the job that is running."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info("received %s; stopping after the current job", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(application: Application, *, scan_interval: float | None = None, once: bool = False) -> CatchUp:
    """Catch up, then run the scheduler until SIGINT or SIGTERM; with ``once``, only catch up.

    The intervals and the grace period come from the application's settings; ``scan_interval``
    overrides theirs. Returns the catch-up's result. A signal lets the running job finish (a scan
    stops between two cases) and the call returns normally, so the process exits 0.
    """
    settings = application.settings
    checkpoint = None
    if settings.signing_key_file is not None:
        from engine.app.settings import SIGNING_KEY_FILE
        from engine.app.transparency import private_key, write_checkpoint

        key = private_key(settings.signing_key_file, SIGNING_KEY_FILE)  # a bad key stops serve at start
        checkpoint = partial(write_checkpoint, application.commands, key, settings.checkpoint_folder,
                             only_if_grown=True, witness=settings.witness_url is not None)
    witness = None
    if settings.witness_url is not None:
        from engine.app.transparency import send_to_witness

        witness = partial(_log_witness, partial(send_to_witness, application.commands, settings.witness_url,
                                                settings.witness_timeout))
    runner = Scheduler(application.commands,
                       scan_interval=settings.scan_interval if scan_interval is None else scan_interval,
                       delivery_interval=settings.delivery_interval, schedule_grace=settings.schedule_grace,
                       checkpoint=checkpoint, checkpoint_interval=settings.checkpoint_interval, witness=witness,
                       retention=(timedelta(days=settings.outbox_retention_days)
                                  if settings.outbox_retention_days is not None else None),
                       inbox=application.whatsapp.process if application.whatsapp.settings is not None else None,
                       forget_attempts=application.public.forget_attempts)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if once:
        return runner.catch_up()
    with _stop_signals(runner.stopping):
        result = runner.catch_up()
        if not runner.stopping.is_set():
            runner.start()
            log.info("serving: escalation scan every %g s, %d schedule job(s)", runner.scan_interval,
                     sum(1 for job in runner.jobs() if job.id.startswith("schedule:")))
            # A timed wait keeps the main thread returning to the interpreter, where signal
            # handlers run, on every platform.
            while not runner.stopping.wait(0.5):
                pass
        runner.stop()
    return result
