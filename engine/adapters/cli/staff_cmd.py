"""Commands on staff: staff add, update, list, disable, enable."""

from __future__ import annotations

import argparse
from typing import Any

from engine.adapters.cli.arguments import whole
from engine.adapters.cli.context import Context, common_options


def _scope_option(parser: Any) -> None:
    parser.add_argument("--scope", metavar="VALUE",
                        help="the value of the workflow's scope field the roles are bound to (e.g. a kecamatan)")
    # The older spelling from when the only workflow was scoped by kecamatan; same destination.
    parser.add_argument("--kecamatan", dest="scope", help=argparse.SUPPRESS)


def _as_option(parser: Any) -> None:
    parser.add_argument("--as", dest="actor", metavar="USER",
                        help="the staff member (with manage_staff) the operator acts for; recorded with the change")


def register(commands: Any) -> None:
    common = common_options()
    staff = commands.add_parser("staff", help="manage staff members")
    sub = staff.add_subparsers(dest="staff_command", required=True, metavar="COMMAND")
    p = sub.add_parser("add", parents=[common], help="add a staff member")
    p.add_argument("username")
    p.add_argument("--name", required=True)
    p.add_argument("--role", dest="roles", action="append", required=True, metavar="ROLE")
    _scope_option(p)
    p.add_argument("--phone")
    p.add_argument("--email")
    p.add_argument("--workflow", help="the workflow the roles belong to (default: the only deployed one)")
    p.add_argument("--as", dest="actor", metavar="USER",
                   help="the staff member (with manage_staff) the operator acts for; recorded with the new member")
    p.set_defaults(handler=add)
    p = sub.add_parser("update", parents=[common],
                       help="change a staff member's name, contacts, or roles and scope in one workflow")
    p.add_argument("username")
    p.add_argument("--name")
    p.add_argument("--role", dest="roles", action="append", metavar="ROLE",
                   help="the roles in the workflow, replacing the ones held there (repeat for several)")
    _scope_option(p)
    p.add_argument("--phone")
    p.add_argument("--email")
    p.add_argument("--workflow", help="the workflow whose roles change (default: the only deployed one)")
    _as_option(p)
    p.set_defaults(handler=update)
    p = sub.add_parser("list", parents=[common], help="list staff members")
    p.set_defaults(handler=list_staff)
    p = sub.add_parser("disable", parents=[common], help="disable a staff member")
    p.add_argument("username")
    _as_option(p)
    p.set_defaults(handler=disable)
    p = sub.add_parser("enable", parents=[common], help="enable a disabled staff member again")
    p.add_argument("username")
    _as_option(p)
    p.set_defaults(handler=enable)
    p = sub.add_parser("passwd", parents=[common],
                       help="set a staff member's web password (asked twice, or read from standard input)")
    p.add_argument("username")
    p.set_defaults(handler=passwd)
    p = sub.add_parser("logins", parents=[common], help="the login record: logins, failures, lockouts, logouts")
    p.add_argument("username", nargs="?", help="only this username")
    p.add_argument("--limit", type=whole(1), default=50, metavar="N", help="newest N rows (default 50)")
    p.set_defaults(handler=logins)


def _text(member: dict[str, Any]) -> str:
    state = "" if member["active"] else "  (nonaktif)"
    several = len({g["workflow"] for g in member["grants"]}) > 1
    roles = ", ".join(f"{g['workflow']}:{g['role']}" if several else g["role"] for g in member["grants"])
    where = f"  wilayah {member['scope']}" if member["scope"] else ""
    return f"{member['username']:<16} {member['name']:<32} {roles}{where}{state}"


def add(ctx: Context) -> int:
    args = ctx.args
    member = ctx.engine.add_staff(args.username, args.name, args.roles, args.scope, args.phone, args.email,
                                  args.workflow, operator=operator(), acting_for=args.actor)
    ctx.emit(ctx.views.staff_view(member), _text)
    return 0


def update(ctx: Context) -> int:
    args = ctx.args
    member = ctx.engine.update_staff(args.username, name=args.name, roles=args.roles, scope=args.scope,
                                     phone=args.phone, email=args.email, workflow=args.workflow,
                                     operator=operator(), acting_for=args.actor)
    ctx.emit(ctx.views.staff_view(member), _text)
    return 0


def list_staff(ctx: Context) -> int:
    members = ctx.views.staff()
    ctx.emit(members, lambda rows: "\n".join(_text(m) for m in rows) or "(belum ada petugas)")
    return 0


def disable(ctx: Context) -> int:
    ctx.engine.set_staff_active(ctx.args.username, False, operator=operator(), acting_for=ctx.args.actor)
    ctx.emit({"username": ctx.args.username, "active": False}, lambda r: f"{r['username']} disabled")
    return 0


def enable(ctx: Context) -> int:
    ctx.engine.set_staff_active(ctx.args.username, True, operator=operator(), acting_for=ctx.args.actor)
    ctx.emit({"username": ctx.args.username, "active": True}, lambda r: f"{r['username']} enabled")
    return 0


def _read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    import getpass
    import sys

    from engine.errors import InvalidInput

    try:
        if not sys.stdin.isatty():
            return sys.stdin.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError, ValueError) as error:  # closed, unreadable or not text
        raise InvalidInput(f"could not read the password from standard input ({error}); pipe it in as one line "
                           "of UTF-8 text, or run the command on a terminal", field="password") from None
    first = getpass.getpass("Kata sandi baru: ")
    if getpass.getpass("Ulangi kata sandi baru: ") != first:
        raise InvalidInput("the two passwords differ; nothing was changed", field="password")
    return first


def passwd(ctx: Context) -> int:
    ctx.application.credentials.set_password(ctx.args.username, _read_password(), actor=operator())
    ctx.emit({"username": ctx.args.username, "password_set": True},
             lambda r: f"kata sandi {r['username']} disimpan")
    return 0


def logins(ctx: Context) -> int:
    from engine.errors import InvalidInput

    if ctx.args.limit < 1:
        raise InvalidInput(f"--limit {ctx.args.limit} is too small; give 1 or more", field="limit")
    rows = ctx.application.credentials.login_records(ctx.args.username, ctx.args.limit)
    ctx.emit(rows, lambda found: "\n".join(f"{r['at'][:19]}  {r['username']:<16} {r['address']:<20} {r['outcome']}"
                                           for r in found) or "(belum ada catatan masuk)")
    return 0


def operator() -> str:
    """Who runs this command on the server: ``os:ACCOUNT`` (the CLI is the operator's tool)."""
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for the process's uid (a bare container)
        import os

        return f"os:uid{os.getuid()}"
