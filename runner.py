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
    "engine.adapters.cli.escalation_cmd",
    "engine.adapters.cli.notices_cmd",
    "engine.adapters.cli.demo_cmd",
    "engine.adapters.cli.web_cmd",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"treckk: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="treckk", description="TRECKK complaint-handling workflow engine (Satpol PP Balangan).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


@functools.cache
def _shared_parser() -> argparse.ArgumentParser:
    # Building the parser costs more than many commands (argparse looks up translations for
    # every help text); a process that runs several commands builds it once.
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    args = _shared_parser().parse_args(argv)
    from engine.adapters.cli.arguments import undecodable_argument

    if problem := undecodable_argument(_shared_parser(), args):
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
