"""Commands for deadlines and periodic work: escalate (one scan now), serve (the scheduler)."""

from __future__ import annotations

from engine.adapters.cli.arguments import seconds, whole

import logging
import sys
from typing import TYPE_CHECKING, Any

from engine.adapters.cli.context import Context, common_options

if TYPE_CHECKING:
    from engine.adapters.cli.formatting import Zones


def register(commands: Any) -> None:
    """Add ``escalate`` and ``serve``."""
    from engine.app.settings import DEFAULT_SCAN_INTERVAL, SCAN_INTERVAL

    common = common_options()
    p = commands.add_parser("escalate", parents=[common], help="fire the escalation steps that are due now")
    p.add_argument("--limit", type=whole(1), default=1000, metavar="N",
                   help="cases read per batch (default 1000); batches repeat until nothing is due")
    p.set_defaults(handler=escalate)

    p = commands.add_parser("serve", parents=[common],
                            help="run escalation scans, notice delivery and periodic notices until stopped")
    p.add_argument("--scan-interval", type=seconds, metavar="S",
                   help=f"seconds between escalation scans (default: {SCAN_INTERVAL} or {DEFAULT_SCAN_INTERVAL:g})")
    p.add_argument("--once", action="store_true",
                   help="catch up once (escalations, missed schedule runs, delivery) and exit")
    p.add_argument("--web", action="store_true", help="run the staff web app in the same process")
    from engine.adapters.cli.web_cmd import address_options

    address_options(p)
    p.set_defaults(handler=serve)


def _zones(ctx: Context) -> Zones:
    from engine.adapters.cli.formatting import Zones

    return Zones(ctx.views.deployed())


def _fired_json(fired: list[Any]) -> list[dict[str, Any]]:
    return [{"number": f.number, "state": f.state, "step": f.step, "recipients": f.recipients,
             "due_at": f.due_at.isoformat(), "late_by_minutes": f.late_by, "undelivered": list(f.undelivered)}
            for f in fired]


def _fired_text(rows: list[dict[str, Any]], zones: Zones) -> str:
    from engine.core import localtime as wita

    if not rows:
        return "Tidak ada eskalasi yang jatuh tempo."
    lines = [f"{row['number']}  {zones.state(row['number'], row['state']):<36} langkah {row['step']}  "
             f"{row['recipients']} penerima  "
             f"batas {zones.short(row['due_at'], zones.of_number(row['number']))}  "
             f"terlambat {wita.span(row['late_by_minutes'])}"
             + "".join(f"\n  peringatan: {line}" for line in row.get("undelivered", ())) for row in rows]
    lines.append(f"{len(rows)} langkah eskalasi dijalankan.")
    return "\n".join(lines)


def escalate(ctx: Context) -> int:
    """Run one escalation scan now and report each step that fired."""
    from engine.errors import InvalidInput

    if ctx.args.limit < 1:
        raise InvalidInput(f"--limit must be at least 1, not {ctx.args.limit}")
    ctx.emit(_fired_json(ctx.engine.escalate(limit=ctx.args.limit)),
             lambda rows: _fired_text(rows, _zones(ctx)))
    return 0


def serve(ctx: Context) -> int:
    """Run the scheduler; exits 0 on SIGINT or SIGTERM after the running job finishes."""
    from engine.errors import InvalidInput
    from engine.adapters.scheduler import CatchUp
    from engine.adapters.scheduler import serve as run

    interval = ctx.args.scan_interval
    if interval is not None and interval <= 0:
        raise InvalidInput(f"--scan-interval must be a positive number of seconds, not {interval:g}")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web = None
    if ctx.args.web and not ctx.args.once:
        from engine.adapters.cli.web_cmd import check_port
        from engine.adapters.web.app import create_app, secret_key_of
        from engine.adapters.web.server import start_in_thread

        check_port(ctx.args.port)
        secret_key_of(ctx.settings, demo=False)
        web = start_in_thread(create_app(ctx.application), ctx.args.host, ctx.args.port)
        ctx.note(f"TRECKK web berjalan di {web.url}/")
    try:
        result: CatchUp = run(ctx.application, scan_interval=interval, once=ctx.args.once)
    finally:
        if web is not None:
            web.stop()
    if ctx.args.once:
        summary: dict[str, Any] = {
            "escalations": _fired_json(result.escalations),
            "schedules": [{"workflow": r.workflow, "schedule": r.schedule, "fire_at": r.fire_at.isoformat(),
                           "status": r.status, "notices": r.notices} for r in result.schedules],
        }
        inbox = result.inbox
        if inbox is not None:
            counts: dict[str, Any] = {name: getattr(inbox, name) for name in
                                      ("bodies", "messages", "duplicates", "statuses", "retried")}
            counts["cases"] = list(getattr(inbox, "cases", ()))
            summary["whatsapp"] = counts

        def human(s: dict[str, Any]) -> str:
            zones = _zones(ctx)
            wa = s.get("whatsapp")
            return "\n".join(
                [_fired_text(s["escalations"], zones)]
                + [f"Jadwal {r['schedule']} ({zones.short(r['fire_at'], zones.of_workflow(r['workflow']))}): "
                   f"{r['status']}, {r['notices']} pemberitahuan" for r in s["schedules"]]
                + ([f"WhatsApp: {wa['messages']} pesan, {wa['duplicates']} ganda, {wa['statuses']} status, "
                    f"{wa['retried']} dicoba lagi nanti; aduan baru: {', '.join(wa['cases']) or '-'}"]
                   if wa and wa["bodies"] else []))

        ctx.emit(summary, human)
    return 0
