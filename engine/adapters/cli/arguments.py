"""Checks on the command line as a whole, made once before any command runs.

Python hands over arguments that were not UTF-8 with each bad byte as a lone surrogate
(``surrogateescape``); such text can be neither stored, nor sent, nor printed, so it is refused
here, naming the argument, instead of failing half-way through a command.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


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


INT64_MAX = 2**63 - 1
"""The largest whole number either database stores; anything above is refused at the command line."""
MAX_SECONDS = 10**9
"""The longest interval in seconds an argument may name (about 31 years)."""


def whole(minimum: int = 0) -> Callable[[str], int]:
    """An argparse type: a whole number from ``minimum`` to ``INT64_MAX``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        if value > INT64_MAX:
            raise argparse.ArgumentTypeError(f"{text!r} is too large; at most {INT64_MAX}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0 and at most ``MAX_SECONDS``."""
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0 and at most {MAX_SECONDS}")
    return value
