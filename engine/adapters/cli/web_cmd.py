"""The web app on the command line: ``web`` (run it), ``token`` (API bearer tokens), and the web demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.adapters.cli.arguments import whole
from engine.adapters.cli.context import Context, common_options

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def address_options(parser: Any) -> None:
    """``--host`` and ``--port`` of the web app."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")


def register(commands: Any) -> None:
    common = common_options()
    p = commands.add_parser("web", parents=[common], help="run the staff web app and the JSON API")
    address_options(p)
    p.set_defaults(handler=web)

    token = commands.add_parser("token", help="bearer tokens for the JSON API")
    sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", parents=[common], help="make a token for a staff member (printed once)")
    p.add_argument("username")
    p.add_argument("--name", metavar="LABEL", help="what the token is for (e.g. the system that uses it)")
    p.set_defaults(handler=token_create)
    p = sub.add_parser("list", parents=[common], help="list tokens (never the tokens themselves)")
    p.set_defaults(handler=token_list)
    p = sub.add_parser("revoke", parents=[common], help="revoke a token for good")
    p.add_argument("id", type=whole(1))
    p.set_defaults(handler=token_revoke)


def check_port(port: int) -> None:
    from engine.errors import InvalidInput

    if not 0 < port < 65536:
        raise InvalidInput(f"--port {port} is not a port number; use 1 to 65535", field="port", value=port)


def web(ctx: Context) -> int:
    """Run the web app in the foreground until SIGINT or SIGTERM."""
    from engine.adapters.web.app import create_app, secret_key_of
    from engine.adapters.web.server import run

    check_port(ctx.args.port)
    secret_key_of(ctx.settings, demo=False)  # before the database: say what is missing first
    app = create_app(ctx.application)
    run(app, ctx.args.host, ctx.args.port,
        ready=lambda: ctx.note(f"TRECKK web berjalan di http://{ctx.args.host}:{ctx.args.port}/ "
                               "(Ctrl+C untuk berhenti)"))
    return 0


def token_create(ctx: Context) -> int:
    from engine.adapters.cli.staff_cmd import operator

    token_id, token = ctx.application.credentials.create_token(ctx.args.username, ctx.args.name, actor=operator())
    ctx.emit({"id": token_id, "username": ctx.args.username, "token": token},
             lambda r: f"{r['token']}\n(token {r['id']} untuk {r['username']}; simpan sekarang, token ini tidak "
                       "ditampilkan lagi)")
    return 0


def token_list(ctx: Context) -> int:
    def text(rows: list[dict[str, Any]]) -> str:
        lines = [f"{r['id']:>4}  {r['username']:<16} {r['name']:<24} dibuat {r['created_at'][:16]}"
                 + (f"  dicabut {r['revoked_at'][:16]}" if r["revoked_at"] else "") for r in rows]
        return "\n".join(lines) or "(belum ada token)"

    ctx.emit(ctx.application.credentials.tokens(), text)
    return 0


def token_revoke(ctx: Context) -> int:
    from engine.adapters.cli.staff_cmd import operator

    ctx.application.credentials.revoke_token(ctx.args.id, actor=operator())
    ctx.emit({"id": ctx.args.id, "revoked": True}, lambda r: f"token {r['id']} dicabut")
    return 0


def demo_web(ctx: Context, story: Path, workdir: Path) -> int:
    """Play the demo story into ``workdir``, give each of its staff a known password, print them, serve."""
    from dataclasses import replace

    from engine.adapters.web.app import create_app
    from engine.adapters.web.server import run
    from engine.app.assembly import build
    from engine.app.credentials import demo_password
    from engine.app.scenario import load_scenario, run_scenario

    check_port(ctx.args.port)
    scenario = load_scenario(story)
    url = f"sqlite:///{workdir / 'treckk.db'}"
    results = run_scenario(scenario, url, ctx.home, None, outbox=workdir / "outbox")
    application = build(replace(ctx.settings, database_url=url, now=None,
                                base_url=ctx.settings.base_url or f"http://{ctx.args.host}:{ctx.args.port}"))
    try:
        for member in scenario.staff:
            application.credentials.set_password(member.username, demo_password(member.username))
        address = f"http://{ctx.args.host}:{ctx.args.port}/"

        def announce() -> None:
            print(f"Demo web TRECKK: {scenario.title}")
            print(f"({len(results)} langkah cerita demo sudah dimainkan; database {workdir / 'treckk.db'})\n")
            print(f"Buka {address} dan masuk sebagai salah satu petugas demo:\n")
            print(f"  {'nama pengguna':<16} {'kata sandi':<24} peran")
            for member in scenario.staff:
                where = f" ({member.scope})" if member.scope else ""
                print(f"  {member.username:<16} {demo_password(member.username):<24} {', '.join(member.roles)}{where}")
            print("\nCtrl+C untuk berhenti.", flush=True)

        run(create_app(application, demo=True), ctx.args.host, ctx.args.port, ready=announce)
    finally:
        application.close()
    return 0
