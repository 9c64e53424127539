"""Commands on staff: staff add, staff list, staff disable."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from engine.adapters.cli.context import Context, common_options


def register(commands: Any) -> None:
    common = common_options()
    staff = commands.add_parser("staff", help="manage staff members")
    sub = staff.add_subparsers(dest="staff_command", required=True, metavar="COMMAND")
    p = sub.add_parser("add", parents=[common], help="add a staff member")
    p.add_argument("username")
    p.add_argument("--name", required=True)
    p.add_argument("--role", dest="roles", action="append", required=True, metavar="ROLE")
    p.add_argument("--kecamatan")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.add_argument("--workflow", default="treckk")
    p.set_defaults(handler=add)
    p = sub.add_parser("list", parents=[common], help="list staff members")
    p.set_defaults(handler=list_staff)
    p = sub.add_parser("disable", parents=[common], help="disable a staff member")
    p.add_argument("username")
    p.set_defaults(handler=disable)


def _text(member: dict[str, Any]) -> str:
    state = "" if member["active"] else "  (nonaktif)"
    where = f"  kecamatan {member['kecamatan']}" if member["kecamatan"] else ""
    return f"{member['username']:<16} {member['name']:<32} {', '.join(member['roles'])}{where}{state}"


def add(ctx: Context) -> int:
    args = ctx.args
    member = ctx.engine.add_staff(args.username, args.name, args.roles, args.kecamatan, args.phone, args.email,
                                  args.workflow)
    ctx.emit(asdict(member), _text)
    return 0


def list_staff(ctx: Context) -> int:
    from engine.store import staff_rows

    with ctx.database.begin() as connection:
        members = [asdict(m) for m in staff_rows.all_staff(connection)]
    ctx.emit(members, lambda rows: "\n".join(_text(m) for m in rows) or "(belum ada petugas)")
    return 0


def disable(ctx: Context) -> int:
    ctx.engine.disable_staff(ctx.args.username)
    ctx.emit({"username": ctx.args.username, "active": False}, lambda r: f"{r['username']} disabled")
    return 0
