"""Commands on cases: submit, advance, show, history, inbox, cases (verify is in ``log_cmd``)."""

from __future__ import annotations

from engine.adapters.cli.arguments import whole

import argparse
from collections.abc import Callable
from typing import Any

from engine.adapters.cli.context import Context, common_options


def _acting_with_values(parser: Any) -> None:
    """The options of a command that records values as a staff member: --as, --set, --set-file."""
    parser.add_argument("--as", dest="actor", required=True, metavar="USER")
    parser.add_argument("--set", dest="values", action="append", metavar="FIELD=VALUE",
                        help="a field's value; FIELD=- reads it from standard input")
    parser.add_argument("--set-file", dest="value_files", action="append", metavar="FIELD=PATH",
                        help="a field's value from a UTF-8 text file (trailing line breaks dropped), for long text")


def register(commands: Any) -> None:
    common = common_options()
    p = commands.add_parser("submit", parents=[common], help="record a new complaint; prints its case number")
    _acting_with_values(p)
    p.add_argument("--workflow", help="the workflow of the new case (default: the only deployed one)")
    p.add_argument("--comment", help="a note kept in the history (at most 4000 characters)")
    p.add_argument("--idempotency-key", metavar="K")
    p.set_defaults(handler=submit)

    p = commands.add_parser("advance", parents=[common], help="fire a trigger on a case")
    p.add_argument("case")
    p.add_argument("trigger")
    _acting_with_values(p)
    p.add_argument("--comment", help="a note kept in the history (at most 4000 characters)")
    p.add_argument("--expect-version", type=whole(1), metavar="N")
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
    _paging(p, 500)
    p.set_defaults(handler=inbox)

    p = commands.add_parser("cases", parents=[common], help="list and filter cases")
    p.add_argument("--state")
    p.add_argument("--scope", metavar="VALUE", help="only cases with this value of their scope field")
    p.add_argument("--kecamatan", dest="scope", help=argparse.SUPPRESS)  # the older spelling of --scope
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--as", dest="actor", metavar="USER")
    _paging(p, 500)
    p.set_defaults(handler=cases)


def _paging(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--limit", type=whole(1), default=default, metavar="N",
                        help=f"at most N cases (default {default})")
    parser.add_argument("--after", metavar="CURSOR",
                        help="the page after the one that ended with this cursor (printed when more cases follow)")


def _more(ctx: Context, cursor: str | None) -> None:
    """Tell the reader (on stderr, so the list stays clean) how to get the next page."""
    if cursor:
        ctx.note(f"Masih ada lagi: tambahkan --after {cursor} untuk halaman berikutnya.")


def _case_text(ctx: Context) -> Callable[[dict[str, Any]], str]:
    """The human form of a case view, in the labels and time zone of the case's definition."""
    from engine.adapters.cli.formatting import case_text

    return lambda view: case_text(view, ctx.views.definition(view["workflow"], view["definition_version"]))


def _rows_text(ctx: Context) -> Callable[[list[dict[str, Any]]], str]:
    """The human form of a list of cases; an empty list names the cases as the workflows do."""
    from engine.adapters.cli.formatting import case_noun, case_rows_text

    return lambda rows: case_rows_text(rows, ctx.views.definition, lambda: case_noun(ctx.views.deployed()))


def submit(ctx: Context) -> int:
    from engine.adapters.cli.assignments import read_assignments

    args = ctx.args
    case = ctx.engine.submit(args.actor, read_assignments(args.values, args.value_files), workflow=args.workflow,
                             comment=args.comment, idempotency_key=args.idempotency_key)
    if ctx.json:
        ctx.emit(ctx.views.view_of(case, args.actor), _case_text(ctx))
    else:
        print(case.number)
    _warn_undelivered(ctx, case.undelivered)
    return 0


def _warn_undelivered(ctx: Context, lines: tuple[str, ...]) -> None:
    """Say on stderr (the command still succeeded) which of its notices reached nobody."""
    for line in lines:
        ctx.note(f"warning: {line}")


def advance(ctx: Context) -> int:
    from engine.adapters.cli.assignments import read_assignments

    args = ctx.args
    case = ctx.engine.advance(args.case, args.trigger, args.actor, read_assignments(args.values, args.value_files),
                              comment=args.comment, expect_version=args.expect_version,
                              idempotency_key=args.idempotency_key)
    ctx.emit(ctx.views.view_of(case, args.actor), _case_text(ctx))
    _warn_undelivered(ctx, case.undelivered)
    return 0


def show(ctx: Context) -> int:
    ctx.emit(ctx.views.show(ctx.args.case, ctx.args.actor), _case_text(ctx))
    return 0


def history(ctx: Context) -> int:
    from engine.adapters.cli.formatting import history_text

    ctx.emit(ctx.views.history(ctx.args.case, ctx.args.actor),
             lambda events: history_text(events, ctx.views.case_definition(ctx.args.case)))
    return 0


def inbox(ctx: Context) -> int:
    page = ctx.views.inbox_page(ctx.args.actor, limit=ctx.args.limit, after=ctx.args.after)
    ctx.emit(page["cases"], _rows_text(ctx))
    _more(ctx, page["next"])
    return 0


def cases(ctx: Context) -> int:
    args = ctx.args
    page = ctx.views.cases_page(state=args.state, scope=args.scope, overdue=args.overdue, viewer_name=args.actor,
                                limit=args.limit, after=args.after)
    ctx.emit(page["cases"], _rows_text(ctx))
    _more(ctx, page["next"])
    return 0
