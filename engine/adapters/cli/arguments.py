"""Checks on the command line as a whole, made once before any command runs.

Python hands over arguments that were not UTF-8 with each bad byte as a lone surrogate
(``surrogateescape``); such text can be neither stored, nor sent, nor printed, so it is refused
here, naming the argument, instead of failing half-way through a command.
"""

from __future__ import annotations

import argparse


def _chosen_actions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[argparse.Action]:
    """The actions of ``parser`` and of each subcommand chosen in ``args``."""
    found: list[argparse.Action] = []
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        nested: argparse.ArgumentParser | None = None
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(args, action.dest, None)
                nested = action.choices.get(chosen) if isinstance(chosen, str) else None
            else:
                found.append(action)
        current = nested
    return found


def _bytes_shown(text: str) -> str:
    try:
        return repr(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return ascii(text)


def undecodable_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """A message naming the first text argument that is not valid UTF-8, or None when all are.

    File paths parsed as ``Path`` are left alone: a file name may be any bytes.
    """
    for action in _chosen_actions(parser, args):
        value = getattr(args, action.dest, None)
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                name = "/".join(action.option_strings) or action.metavar or action.dest
                return (f"argument {name}: {_bytes_shown(item)} is not valid UTF-8 text; "
                        "give it in UTF-8 (check the terminal's or the script's encoding)")
    return None
