"""Commands on cases: submit, advance, show, history, inbox, cases, verify."""

from __future__ import annotations

import argparse
from typing import Any

from engine.adapters.cli.context import Context, common_options, parse_assignments


def register(commands: Any) -> None:
    common = common_options()
    p = commands.add_parser("submit", parents=[common], help="record a new complaint; prints its case number")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.add_argument("--set", dest="values", action="append", metavar="FIELD=VALUE")
    p.add_argument("--workflow", help="the workflow of the new case (default: the only deployed one)")
    p.add_argument("--comment")
    p.add_argument("--idempotency-key", metavar="K")
    p.set_defaults(handler=submit)

    p = commands.add_parser("advance", parents=[common], help="fire a trigger on a case")
    p.add_argument("case")
    p.add_argument("trigger")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.add_argument("--set", dest="values", action="append", metavar="FIELD=VALUE")
    p.add_argument("--comment")
    p.add_argument("--expect-version", type=int, metavar="N")
    p.add_argument("--idempotency-key", metavar="K")
    p.set_defaults(handler=advance)

    p = commands.add_parser("show", parents=[common], help="show a case: state, data, deadline, allowed triggers")
    p.add_argument("case")
    p.add_argument("--as", dest="actor", metavar="USER")
    p.set_defaults(handler=show)

    p = commands.add_parser("history", parents=[common], help="show the history of a case")
    p.add_argument("case")
    p.add_argument("--as", dest="actor", metavar="USER")
    p.set_defaults(handler=history)

    p = commands.add_parser("inbox", parents=[common], help="cases waiting for this user's action")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.set_defaults(handler=inbox)

    p = commands.add_parser("cases", parents=[common], help="list and filter cases")
    p.add_argument("--state")
    p.add_argument("--scope", metavar="VALUE", help="only cases with this value of their scope field")
    p.add_argument("--kecamatan", dest="scope", help=argparse.SUPPRESS)  # the older spelling of --scope
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--as", dest="actor", metavar="USER")
    p.add_argument("--limit", type=int, default=500)
    p.set_defaults(handler=cases)

    p = commands.add_parser("verify", parents=[common], help="check the tamper-evident history chains")
    p.add_argument("case", nargs="?")
    p.set_defaults(handler=verify)


def submit(ctx: Context) -> int:
    from engine.adapters.cli.formatting import case_text

    args = ctx.args
    case = ctx.engine.submit(args.actor, parse_assignments(args.values), workflow=args.workflow,
                             comment=args.comment, idempotency_key=args.idempotency_key)
    if ctx.json:
        ctx.emit(ctx.views.view_of(case, args.actor), case_text)
    else:
        print(case.number)
    return 0


def advance(ctx: Context) -> int:
    from engine.adapters.cli.formatting import case_text

    args = ctx.args
    case = ctx.engine.advance(args.case, args.trigger, args.actor, parse_assignments(args.values),
                              comment=args.comment, expect_version=args.expect_version,
                              idempotency_key=args.idempotency_key)
    ctx.emit(ctx.views.view_of(case, args.actor), case_text)
    return 0


def show(ctx: Context) -> int:
    from engine.adapters.cli.formatting import case_text

    ctx.emit(ctx.views.show(ctx.args.case, ctx.args.actor), case_text)
    return 0


def history(ctx: Context) -> int:
    from engine.adapters.cli.formatting import history_text

    ctx.emit(ctx.views.history(ctx.args.case, ctx.args.actor), history_text)
    return 0


def inbox(ctx: Context) -> int:
    from engine.adapters.cli.formatting import case_rows_text

    ctx.emit(ctx.views.inbox(ctx.args.actor), case_rows_text)
    return 0


def cases(ctx: Context) -> int:
    from engine.adapters.cli.formatting import case_rows_text

    args = ctx.args
    ctx.emit(ctx.views.list_cases(state=args.state, scope=args.scope, overdue=args.overdue,
                                  viewer_name=args.actor, limit=args.limit), case_rows_text)
    return 0


def verify(ctx: Context) -> int:
    broken = ctx.views.verify(ctx.args.case)
    checked = ctx.views.checked_count(ctx.args.case)
    result = {"checked": checked, "broken": broken}

    def human(value: dict[str, Any]) -> str:
        if not value["broken"]:
            return f"OK: {value['checked']} case(s), every history chain matches"
        return "\n".join(f"{b['number']}: event {b['seq']} does not match: {b['reason']}" for b in value["broken"])

    ctx.emit(result, human)
    return 8 if broken else 0
