"""Commands on definitions and the schema: init, db upgrade, db current, validate, diagram, deploy, migrate."""

from __future__ import annotations

from engine.adapters.cli.arguments import whole

from pathlib import Path
from typing import Any

from engine.adapters.cli.context import Context, common_options


def register(commands: Any) -> None:
    common = common_options()
    p = commands.add_parser("init", parents=[common],
                            help="create or upgrade the database and deploy the shipped definitions")
    p.set_defaults(handler=init, creates_database=True)

    db = commands.add_parser("db", help="the database schema: upgrade it, or show its revision")
    sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    p = sub.add_parser("upgrade", parents=[common],
                       help="bring the schema to the newest revision (safe to repeat, safe with runners starting)")
    p.add_argument("--to", dest="revision", default="head", metavar="REVISION",
                   help="stop at this revision (default: head)")
    p.set_defaults(handler=db_upgrade, creates_database=True)
    p = sub.add_parser("current", parents=[common], help="show the schema revision of the database")
    p.set_defaults(handler=db_current)

    p = commands.add_parser("validate", parents=[common], help="check workflow and roles files")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help="files to check (default: workflows/*.yaml and roles/*.yaml)")
    p.set_defaults(handler=validate)

    p = commands.add_parser("diagram", parents=[common], help="print the state diagram of a workflow")
    p.add_argument("workflow", nargs="?", type=Path, metavar="WORKFLOW",
                   help="workflow file or name (default: the only file in workflows/)")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    p.set_defaults(handler=diagram)

    p = commands.add_parser("deploy", parents=[common], help="validate and deploy a new definition version")
    p.add_argument("path", type=Path)
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.set_defaults(handler=deploy)

    p = commands.add_parser("migrate", parents=[common], help="move cases to a newer definition version")
    p.add_argument("cases", nargs="*", metavar="CASE")
    p.add_argument("--workflow", help="the workflow (default: the named cases' own, or the only deployed one)")
    p.add_argument("--to-version", type=whole(1), required=True, metavar="N")
    p.add_argument("--map", dest="mapping", action="append", metavar="OLD=NEW", help="rename a state")
    p.add_argument("--all", action="store_true", help="every open case of older versions")
    p.add_argument("--include-final", action="store_true",
                   help="also move named cases that are closed (in a final state); refused without it")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.add_argument("--batch-size", type=whole(1), default=None, metavar="N",
                   help="with --all: cases per transaction (default 200); an interrupted run continues when run again")
    p.set_defaults(handler=migrate)


def _workflow_files(home: Path) -> list[Path]:
    """The workflow files of the home; none at all is refused (it would deploy or check nothing)."""
    from engine.app.settings import HOME
    from engine.errors import InvalidInput

    found = sorted((home / "workflows").glob("*.yaml"))
    if not found:
        raise InvalidInput(f"no workflow files in {home / 'workflows'}; set {HOME} to the folder that holds "
                           "workflows/, roles/ and templates/, or name the files to check")
    return found


def init(ctx: Context) -> int:
    from engine.store.migrations import upgrade

    files = _workflow_files(ctx.home)
    upgrade(ctx.database)
    deployed = []
    for path in files:
        stored, fresh = ctx.engine.deploy(path, None)
        deployed.append({"workflow": stored.workflow, "version": stored.version, "new": fresh})
    result = {"database": ctx.database.safe_url, "deployed": deployed}
    ctx.emit(result, lambda r: "\n".join(
        [f"Database ready: {r['database']}"] +
        [f"{d['workflow']} v{d['version']}: {'deployed' if d['new'] else 'already deployed'}" for d in r["deployed"]]))
    return 0


def db_upgrade(ctx: Context) -> int:
    from engine.store.migrations import current_revision, upgrade

    before = current_revision(ctx.database)
    after = upgrade(ctx.database, ctx.args.revision)
    result = {"database": ctx.database.safe_url, "from": before, "to": after}
    ctx.emit(result, lambda r: f"{r['database']}: schema " + (
        f"already at revision {r['to']}" if r["from"] == r["to"]
        else f"upgraded from {r['from'] or 'an empty database'} to revision {r['to']}"))
    return 0


def db_current(ctx: Context) -> int:
    from engine.store.migrations import current_revision, head_revision

    current, head = current_revision(ctx.database), head_revision()
    result = {"database": ctx.database.safe_url, "current": current, "head": head, "up_to_date": current == head}
    ctx.emit(result, lambda r: f"{r['database']}: schema revision {r['current'] or 'none (empty database)'}" + (
        " (newest)" if r["up_to_date"] else f"; newest is {r['head']}: run `treckk db upgrade`"))
    return 0


def validate(ctx: Context) -> int:
    from engine.compile.workflow import bundle_from_files, compile_bundle
    from engine.definition.parse import parse_roles
    from engine.compile.sources import read_source
    from engine.errors import DefinitionError, InvalidInput, Problem, TreckkError

    paths = ctx.args.paths or [*_workflow_files(ctx.home), *sorted((ctx.home / "roles").glob("*.yaml"))]
    problems: list[Problem] = []
    summary: list[str] = []
    for path in paths:
        try:
            if not path.is_file():
                problems.append(Problem(str(path), 1, 1, "no such file"))
                continue
            text = read_source(path, "file") if path.resolve().parent.name == "roles" else None
        except InvalidInput as exc:
            problems.append(Problem(str(path)[:200], 1, 1, str(exc)))
            continue
        except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a NUL, a loop of links
            problems.append(Problem(str(path)[:200], 1, 1, f"cannot be read: {exc}"))
            continue
        if text is not None:
            book, found = parse_roles(text, str(path), path.stem)
            problems.extend(found)
            if book:
                summary.append(f"roles {book.name} ({len(book.roles)} roles)")
            continue
        try:
            compiled = compile_bundle(bundle_from_files(path))
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        except TreckkError as exc:
            problems.append(Problem(str(path), 1, 1, str(exc)))
            continue
        d = compiled.definition
        summary.append(f"workflow {d.name} v{d.version} ({len(d.states)} states, {len(d.transitions)} transitions, "
                       f"{len(d.templates())} templates)")
    if problems:
        # A broken roles file is reported by itself and again by each workflow that loads it.
        raise DefinitionError(list(dict.fromkeys(problems)))
    ctx.emit({"ok": True, "checked": summary}, lambda r: f"OK: {len(paths)} file(s) valid: {'; '.join(summary)}")
    return 0


def _only_workflow_file(home: Path) -> Path:
    """The one workflow file of the home; several or none is an error naming them."""
    from engine.errors import InvalidInput

    found = _workflow_files(home)
    if len(found) != 1:
        names = ", ".join(p.stem for p in found) or "none"
        raise InvalidInput(f"name the workflow to draw: {home / 'workflows'} holds {names}")
    return found[0]


def diagram(ctx: Context) -> int:
    from engine.definition import diagram as diagrams
    from engine.compile.workflow import bundle_from_files, compile_bundle

    given = ctx.args.workflow
    path = given if given is None or given.suffix else ctx.home / "workflows" / f"{given}.yaml"
    compiled = compile_bundle(bundle_from_files(path or _only_workflow_file(ctx.home)))
    text = diagrams.dot(compiled.definition) if ctx.args.format == "dot" else diagrams.mermaid(compiled.definition)
    ctx.emit({"format": ctx.args.format, "diagram": text}, lambda r: r["diagram"].rstrip("\n"))
    return 0


def deploy(ctx: Context) -> int:
    stored, fresh = ctx.engine.deploy(ctx.args.path, ctx.args.actor)
    result = {"workflow": stored.workflow, "version": stored.version, "digest": stored.digest, "new": fresh}
    ctx.emit(result, lambda r: f"{r['workflow']} v{r['version']} " +
             ("deployed" if r["new"] else "is already deployed with this content"))
    return 0


def migrate(ctx: Context) -> int:
    import sys

    from engine.app.migration_batches import BATCH_SIZE, MigrationProgress
    from engine.errors import InvalidInput

    args = ctx.args
    mapping: dict[str, str] = {}
    for item in args.mapping or []:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise InvalidInput(f"bad --map {item!r}; write OLD_STATE=NEW_STATE")
        mapping[old] = new
    numbers = list(dict.fromkeys(args.cases))
    if not numbers and not args.all:
        raise InvalidInput("name the cases to migrate, or give --all")
    rows: list[dict[str, object]] = []
    if numbers:
        # Named cases: checked and moved together, in one transaction.
        moved = ctx.engine.migrate(args.workflow, args.to_version, numbers, mapping, args.actor,
                                   include_final=args.include_final)
        rows += [{"number": c.number, "state": c.state, "definition_version": c.definition_version} for c in moved]
    if args.all:
        # Every running case of older versions, in batches (each its own transaction): a run that was
        # interrupted continues with the cases not yet migrated. With nothing older the command still
        # checks the target version and the actor.
        workflow = ctx.engine.resolve_workflow(args.workflow)
        def progress(run: MigrationProgress) -> None:
            if not run.done:
                ctx.note(f"{run.migrated} case(s) migrated so far ({run.batches} batch(es))")

        done = ctx.engine.migrate_running(workflow, args.to_version, mapping, args.actor,
                                          batch_size=args.batch_size or BATCH_SIZE, keep_numbers=True,
                                          after_batch=progress if sys.stderr.isatty() else None)
        rows += [{"number": number, "state": state, "definition_version": args.to_version}
                 for number, state in done.moved]
        for group in done.unmapped:
            ctx.note(f"{group.count} case(s) of version {group.version} left in state {group.state!r}: it is not "
                     f"mapped to a state of version {args.to_version} (staff moved them there during the migration); "
                     f"map it with --map {group.state}=STATE and run it again")
    ctx.emit(rows, lambda found: "\n".join(f"{r['number']}: now version {r['definition_version']}, state {r['state']}"
                                            for r in found) or "(tidak ada kasus yang perlu dipindahkan)")
    return 0
