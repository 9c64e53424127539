"""The ``treckk`` command line: parses arguments, runs one command, prints, exits with its code.

Exit codes: 0 done; 2 bad usage or invalid input; 3 permission denied; 4 trigger not allowed in
the current state; 5 conflict; 6 not found; 7 database unavailable; 8 history tampered;
1 only for bugs. Errors are one plain line on stderr.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "engine.adapters.cli.definitions_cmd",
    "engine.adapters.cli.staff_cmd",
    "engine.adapters.cli.cases_cmd",
    "engine.adapters.cli.log_cmd",
    "engine.adapters.cli.escalation_cmd",
    "engine.adapters.cli.notices_cmd",
    "engine.adapters.cli.demo_cmd",
    "engine.adapters.cli.web_cmd",
)


COMMANDS = {
    "init": "definitions_cmd", "db": "definitions_cmd", "validate": "definitions_cmd", "diagram": "definitions_cmd",
    "deploy": "definitions_cmd", "migrate": "definitions_cmd", "staff": "staff_cmd",
    "submit": "cases_cmd", "advance": "cases_cmd", "show": "cases_cmd", "history": "cases_cmd", "inbox": "cases_cmd",
    "cases": "cases_cmd", "verify": "log_cmd", "keygen": "log_cmd", "checkpoint": "log_cmd", "proof": "log_cmd",
    "escalate": "escalation_cmd", "serve": "escalation_cmd", "web": "web_cmd", "token": "web_cmd",
    "notices": "notices_cmd", "deliver": "notices_cmd", "render": "notices_cmd",
    "demo": "demo_cmd", "simulate": "demo_cmd",
}
"""Which module of ``engine.adapters.cli`` registers each command: a command line naming one builds
only that module's parsers (all of them cost more than a short command; ``tests/test_cli_arguments.py``
keeps this table true)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"treckk: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or (for a known ``command``) of the commands its module registers."""
    parser = _Parser(prog="treckk", description="TRECKK complaint-handling workflow engine (Satpol PP Balangan).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    modules = (f"engine.adapters.cli.{COMMANDS[command]}",) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(commands)
    return parser


@functools.cache
def _shared_parser(command: str | None = None) -> argparse.ArgumentParser:
    # Building the parser costs more than many commands (argparse looks up translations for
    # every help text); a process that runs several commands builds each once.
    return build_parser(command)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if argv is None and given and given[0] in COMMANDS:
        # A process of its own: a short command is answered by the user's resident server, which
        # has the engine imported already (engine/adapters/cli/resident.py); None: run it here.
        from engine.adapters.cli.resident import answered_by_resident

        if (answered := answered_by_resident(given)) is not None:
            return answered
    parser = _shared_parser(given[0] if given and given[0] in COMMANDS else None)
    args = parser.parse_args(given)
    from engine.adapters.cli.arguments import undecodable_argument

    if problem := undecodable_argument(parser, args):
        print(f"treckk: error: {problem}", file=sys.stderr)
        return 2
    from engine.adapters.cli.context import Context
    from engine.errors import TreckkError

    context = Context(args)
    try:
        code: int = args.handler(context)
    except TreckkError as exc:
        from engine.adapters.cli.formatting import visible

        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"treckk: error: {visible(line)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        # Close pooled connections now: a caller running many commands in one process (tests,
        # a worker) must not keep one idle database connection per command.
        context.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
