"""Commands on the outbox: notices (list, show, retry, prune), deliver, render."""

from __future__ import annotations

from engine.adapters.cli.arguments import whole

import argparse
from typing import TYPE_CHECKING, Any

from engine.adapters.cli.context import Context, common_options

if TYPE_CHECKING:
    from engine.adapters.cli.formatting import Zones

STATUSES = ("pending", "sent", "failed", "undeliverable")


def register(commands: Any) -> None:
    """Add ``notices``, ``deliver`` and ``render`` to the command line."""
    from engine.app.settings import OUTBOX_RETENTION_DAYS

    common = common_options()
    p = commands.add_parser("notices", parents=[common], help="list notices in the outbox; show or retry one",
                            description="Without a subcommand: list notices, oldest first.")
    p.add_argument("--case", metavar="CASE", help="only the notices of this case")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--as", dest="actor", metavar="USER", help="as this staff member sees them (masking, scope)")
    p.add_argument("--limit", type=_positive, default=200, metavar="N")
    p.set_defaults(handler=list_notices)
    sub = p.add_subparsers(dest="notices_command", metavar="COMMAND", parser_class=type(p))

    s = sub.add_parser("show", parents=[common], help="show one notice: headers, text, delivery status")
    s.add_argument("notice", metavar="ID", help="notice number or message id")
    s.add_argument("--as", dest="actor", metavar="USER")
    s.add_argument("--html", action="store_true", help="print the HTML of an HTML notice instead of its text")
    s.set_defaults(handler=show_notice)

    s = sub.add_parser("retry", parents=[common],
                       help="make failed or pending notices due now, with a fresh budget of attempts")
    s.add_argument("notices", nargs="*", metavar="ID", help="notice numbers or message ids")
    s.add_argument("--all-failed", action="store_true", help="every failed notice (of --case, if given)")
    s.add_argument("--case", metavar="CASE")
    s.set_defaults(handler=retry_notices)

    s = sub.add_parser("prune", parents=[common],
                       help="delete the bodies of notices delivered more than DAYS ago (rows and digests stay)",
                       description=f"Without --older-than, uses {OUTBOX_RETENTION_DAYS}.")
    s.add_argument("--older-than", type=_positive_days, metavar="DAYS", help="delivered more than DAYS days ago")
    s.set_defaults(handler=prune_notices)

    p = commands.add_parser("deliver", parents=[common], help="send the notices that are due now")
    p.add_argument("--limit", type=_positive, default=100, metavar="N", help="at most N notices (default 100)")
    p.set_defaults(handler=deliver)

    p = commands.add_parser("render", parents=[common], help="preview a notice template for a case (nothing is sent)")
    p.add_argument("template", metavar="TEMPLATE", help="e.g. pelapor_tanda_terima.txt.j2")
    p.add_argument("--case", required=True, metavar="CASE")
    p.add_argument("--as", dest="actor", metavar="USER", help="render as this staff member receives it")
    p.set_defaults(handler=render)


_positive = whole(1)


def _positive_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < value < 1e6:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and under a million days")
    return value


def _zones(ctx: Context) -> Zones:
    from engine.adapters.cli.formatting import Zones

    return Zones(ctx.views.deployed())


def _row_text(row: dict[str, Any], zones: Zones) -> str:
    to = row["recipient_username"] and f"@{row['recipient_username']}" or row["recipient_name"]
    zone = zones.of_number(row["case"])
    if row["status"] == "pending":
        state = f"pending  next {zones.short(row['next_attempt_at'], zone)}"
    elif row["status"] == "sent":
        state = f"sent     {zones.short(row['sent_at'], zone)}"
    else:
        state = "FAILED  "
    tries = f"  attempts {row['attempts']}" if row["attempts"] else ""
    return (f"{row['id']:>5}  {row['case'] or '-':<16} {state:<31} {row['channel']:<8} {to:<20} "
            f"{row['template']}{tries}")


def list_notices(ctx: Context) -> int:
    args = ctx.args
    rows = ctx.views.notices(case=args.case, status=args.status, viewer_name=args.actor, limit=args.limit)
    ctx.emit(rows, lambda found: "\n".join(_row_text(r, _zones(ctx)) for r in found) or "(tidak ada pemberitahuan)")
    return 0


def show_notice(ctx: Context) -> int:
    view = ctx.views.notice(ctx.args.notice, ctx.args.actor)

    def human(v: dict[str, Any]) -> str:
        zones = _zones(ctx)
        zone = zones.of_number(v["case"])
        status = [f"Notice: {v['id']}  status {v['status']}  attempts {v['attempts']}"]
        if v["status"] == "pending":
            status.append(f"Next attempt: {zones.short(v['next_attempt_at'], zone)}")
        if v["sent_at"]:
            status.append(f"Sent: {zones.short(v['sent_at'], zone)}")
        if v.get("provider_id"):
            status.append(f"Receiver's id: {v['provider_id']}  last status: {v.get('receipt') or '-'}")
        if v["last_error"]:
            status.append(f"Last error: {v['last_error']}")
        if v["pruned"]:
            status.append(f"Body: deleted after delivery (retention); it was the text with sha256:{v['body_digest']}")
            return "\n".join(status)
        status.append(f"Body: sha256:{v['body_digest']}")
        body: str = v["body"] if ctx.args.html and v["is_html"] else v["text"]
        return "\n".join(status) + "\n\n" + body.rstrip("\n")

    ctx.emit(view, human)
    return 0


def prune_notices(ctx: Context) -> int:
    from datetime import timedelta

    from engine.app.settings import OUTBOX_RETENTION_DAYS
    from engine.errors import InvalidInput

    days = ctx.args.older_than if ctx.args.older_than is not None else ctx.settings.outbox_retention_days
    if days is None:
        raise InvalidInput(f"no retention is set; give --older-than DAYS or set {OUTBOX_RETENTION_DAYS}",
                           field=OUTBOX_RETENTION_DAYS)
    pruned = ctx.engine.prune_notice_bodies(timedelta(days=days))
    ctx.emit({"pruned": pruned, "older_than_days": days},
             lambda r: f"{r['pruned']} notice bod(y/ies) of notices delivered more than {days:g} day(s) ago deleted")
    return 0


def retry_notices(ctx: Context) -> int:

    args = ctx.args
    if args.case and not args.all_failed:
        from engine.errors import InvalidInput

        raise InvalidInput("--case only narrows --all-failed; give notice numbers, or add --all-failed")
    from engine.adapters.cli.staff_cmd import operator

    done = ctx.engine.retry_notices(args.notices, all_failed=args.all_failed, case=args.case, operator=operator())
    ctx.emit(done, lambda rows: "\n".join(
        f"notice {r['id']}: {r['previous_status']} after {r['previous_attempts']} attempt(s) → pending, due now"
        + (" (to the recipient's corrected address)" if r["address_changed"] else "") for r in rows)
        or "(no failed notices)")
    return 0


def deliver(ctx: Context) -> int:
    report = ctx.engine.deliver(limit=ctx.args.limit)
    result = {
        "sent": report.sent, "retried": report.retried, "failed": report.failed, "claimed": report.claimed,
        "results": [{"id": r.notice_id, "message_id": r.message_id, "channel": r.channel, "outcome": r.outcome,
                     "attempts": r.attempts, "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at
                     else None, "error": r.error} for r in report.results],
    }

    def human(r: dict[str, Any]) -> str:
        lines = [f"sent {r['sent']}, retried {r['retried']}, failed {r['failed']}"]
        for item in r["results"]:
            if item["outcome"] != "sent":
                lines.append(f"  notice {item['id']} ({item['channel']}): {item['outcome']}: {item['error']}")
        return "\n".join(lines)

    ctx.emit(result, human)
    return 0


def render(ctx: Context) -> int:
    args = ctx.args
    view = ctx.views.preview(args.template, args.case, args.actor)
    ctx.emit(view, lambda v: v["body"].rstrip("\n"))
    return 0
