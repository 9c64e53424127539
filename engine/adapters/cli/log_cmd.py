"""Commands on the record itself: verify, keygen, checkpoint, proof (the transparency log)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from engine.adapters.cli.context import Context, common_options

TAMPERED = 8
"""The exit code of a verify that found something."""


def register(commands: Any) -> None:
    from engine.app.settings import SIGNING_KEY_FILE

    common = common_options()
    p = commands.add_parser("verify", parents=[common],
                            help="check the history, the case rows, the definitions and the transparency log "
                                 "(read-only); exit 8 naming each finding")
    p.add_argument("case", nargs="?", help="replay only this case (the log and definitions are still checked)")
    p.add_argument("--checkpoint", dest="checkpoints", action="append", default=[], metavar="FILE", type=Path,
                   help="a checkpoint kept outside the database; the log must extend it (repeatable)")
    p.add_argument("--public-key", type=Path, metavar="FILE",
                   help=f"the key that signs checkpoints (default: the one {SIGNING_KEY_FILE} names)")
    p.add_argument("--incremental", action="store_true",
                   help="start from the newest checkpoint whose signature holds: re-check only what came after it")
    p.add_argument("--jobs", type=int, metavar="N", help="processes replaying cases in a full run (default: cores)")
    p.add_argument("--proof", type=Path, metavar="FILE",
                   help="only check an inclusion proof file (`treckk proof CASE --json`) offline")
    p.set_defaults(handler=verify)

    p = commands.add_parser("keygen", help="make an Ed25519 key file for signing checkpoints (and PATH.pub)")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=keygen)

    p = commands.add_parser("checkpoint", parents=[common],
                            help="sign the transparency log's head now, store it and write it to the checkpoint folder")
    p.set_defaults(handler=checkpoint)

    p = commands.add_parser("proof", parents=[common],
                            help="the inclusion proof of a case's events against the newest checkpoint (JSON)")
    p.add_argument("case")
    p.set_defaults(handler=proof)


def _key_for_checking(ctx: Context) -> Any:
    from engine.app.transparency import public_key

    path = ctx.args.public_key or ctx.settings.signing_key_file
    if path is None:
        return None
    return public_key(path)


def verify(ctx: Context) -> int:
    if ctx.args.proof is not None:
        return _check_proof(ctx)
    if ctx.args.jobs is not None and ctx.args.jobs < 1:
        from engine.errors import InvalidInput

        raise InvalidInput(f"--jobs {ctx.args.jobs} is not a number of processes; give 1 or more", field="jobs")
    from engine.app.verification import checkpoint_anchors, verify as run

    anchors = checkpoint_anchors(_key_for_checking(ctx), ctx.args.checkpoints, ctx.settings.checkpoint_folder)
    report = run(ctx.settings.database_url, ctx.args.case, anchors=anchors, incremental=ctx.args.incremental,
                 jobs=ctx.args.jobs)
    result = report.as_json()

    def human(value: dict[str, Any]) -> str:
        if not value["broken"]:
            return (f"OK: {value['checked']} case(s), {value['events']} event(s), every history chain matches; "
                    f"the log of {value['tree_size']} leaves matches {value['checkpoints']} checkpoint(s) "
                    f"({value['mode']})")
        return "\n".join(_finding_text(finding) for finding in value["broken"])

    ctx.emit(result, human)
    return TAMPERED if report.findings else 0


def _finding_text(finding: dict[str, Any]) -> str:
    if finding["number"] and finding["seq"] is not None:
        return f"{finding['number']}: event {finding['seq']} does not match: {finding['reason']}"
    if finding["number"]:
        return f"{finding['number']}: {finding['reason']}"
    return f"{finding['what']}: {finding['reason']}"


def _check_proof(ctx: Context) -> int:
    from engine.app.transparency import MAX_CHECKPOINT_FILE, check_proof
    from engine.errors import InvalidInput

    path: Path = ctx.args.proof
    try:
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist or is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_CHECKPOINT_FILE * 16 + 1)
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a proof (not JSON: {exc})") from None
    checked = check_proof(value, str(path), _key_for_checking(ctx))
    result = {"case": checked.case, "proven": checked.proven, "signature": checked.signature,
              "broken": checked.problems}

    def human(value: dict[str, Any]) -> str:
        if value["broken"]:
            return "\n".join(f"{value['case']}: {problem}" for problem in value["broken"])
        return (f"OK: {value['proven']} event(s) of {value['case']} are in the checkpoint's tree "
                f"(signature {value['signature']})")

    ctx.emit(result, human)
    return TAMPERED if checked.problems else 0


def keygen(ctx: Context) -> int:
    from engine.app.transparency import keygen as make

    made = make(ctx.args.path)
    ctx.emit(made, lambda value: (f"kunci penanda tangan dibuat: {value['private_key']} (0600), kunci publik "
                                  f"{value['public_key']}, key id {value['key_id']}"))
    return 0


def checkpoint(ctx: Context) -> int:
    from engine.app.settings import SIGNING_KEY_FILE
    from engine.app.transparency import private_key, send_to_witness, write_checkpoint

    settings = ctx.settings
    key = private_key(settings.signing_key_file, SIGNING_KEY_FILE)
    written = write_checkpoint(ctx.engine, key, settings.checkpoint_folder, witness=settings.witness_url is not None)
    assert written is not None
    print(json.dumps(written.as_json(), indent=2))
    if settings.witness_url is not None:
        attempt = send_to_witness(ctx.engine, settings.witness_url, settings.witness_timeout)
        if attempt is not None and attempt.error is not None:
            retry = attempt.retry_at.isoformat(timespec="seconds") if attempt.retry_at else "later"
            print(f"warning: the checkpoint is stored and written, but the witness did not take it: {attempt.error}; "
                  f"`treckk serve` sends it again from {retry}", file=sys.stderr)
    return 0


def proof(ctx: Context) -> int:
    from engine.app.transparency import case_proof

    print(json.dumps(case_proof(ctx.engine, ctx.args.case), indent=2))
    return 0

