"""``treckk demo`` (the shipped story, with a transcript) and ``treckk simulate SCENARIO.yaml``."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engine.adapters.cli.context import Context, common_options

SCENARIO_MISMATCH = 9
"""Exit code of ``simulate`` when a step's result differs from what the scenario expected."""


def register(commands: Any) -> None:
    common = common_options()
    p = commands.add_parser("demo", parents=[common], help="play a day of TRECKK on a throwaway database")
    p.add_argument("--keep", metavar="DIR", type=Path, help="keep the database and outbox in DIR")
    p.add_argument("--quiet-notices", action="store_true", help="list notices without their full text")
    p.add_argument("--web", action="store_true",
                   help="then run the web app on the demo's data and print the demo users and passwords")
    from engine.adapters.cli.web_cmd import address_options

    address_options(p)
    p.set_defaults(handler=demo)

    p = commands.add_parser("simulate", parents=[common],
                            help="play a scenario against a definition and report what differs")
    p.add_argument("scenario", type=Path)
    p.add_argument("--workflow", type=Path, metavar="PATH", help="definition to test (default: the scenario's)")
    p.set_defaults(handler=simulate)


def _run(ctx: Context, scenario_path: Path, workdir: Path, workflow: Path | None, on_step: Any) -> list[Any]:
    from dataclasses import replace

    from engine.app.scenario import load_scenario, run_scenario

    scenario = load_scenario(scenario_path)
    if workflow is not None:
        scenario = replace(scenario, workflow=workflow.resolve())
    return run_scenario(scenario, f"sqlite:///{workdir / 'treckk.db'}", ctx.home, on_step, outbox=workdir / "outbox")


def simulate(ctx: Context) -> int:
    from engine.app.scenario import describe

    with tempfile.TemporaryDirectory(prefix="treckk-simulate-") as tmp:
        results = _run(ctx, ctx.args.scenario, Path(tmp), ctx.args.workflow, None)
    failed = [r for r in results if not r.ok]
    if ctx.json:
        ctx.emit({"steps": len(results), "failed": [
            {"step": r.step.index, "line": r.step.line, "action": describe(r.step), "mismatches": r.mismatches}
            for r in failed]}, str)
    else:
        for r in failed:
            for mismatch in r.mismatches:
                print(f"{ctx.args.scenario}:{r.step.line}: step {r.step.index} ({describe(r.step)}): {mismatch}")
        print(f"{len(results)} step(s), {len(results) - len(failed)} as expected, {len(failed)} different")
    return SCENARIO_MISMATCH if failed else 0


def demo(ctx: Context) -> int:
    keep: Path | None = ctx.args.keep
    workdir = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix="treckk-demo-"))
    if keep:
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("treckk.db", "treckk.db-wal", "treckk.db-shm"):
            (workdir / stale).unlink(missing_ok=True)
        shutil.rmtree(workdir / "outbox", ignore_errors=True)
    if ctx.args.web:
        from engine.adapters.cli.web_cmd import demo_web

        try:
            return demo_web(ctx, _demo_scenario(ctx.home), workdir)
        finally:
            if keep is None:
                shutil.rmtree(workdir, ignore_errors=True)
    transcript: list[dict[str, Any]] = []
    try:
        story = _demo_scenario(ctx.home)
        from engine.app.scenario import load_scenario

        printer = _Printer(ctx, transcript, _zone_of(story), load_scenario(story).title)
        printer.header()
        results = _run(ctx, story, workdir, None, printer.step)
        printer.footer(results, workdir, keep is not None)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if ctx.json:
        print(json.dumps(transcript, ensure_ascii=False, indent=2, default=str))
    return 0 if all(r.ok for r in results) else SCENARIO_MISMATCH


def _demo_scenario(home: Path) -> Path:
    """The home's demo story: the one scenario named ``*-demo.yaml`` (TRECKK ships ``treckk-demo.yaml``)."""
    from engine.errors import NotFound

    found = sorted((home / "workflows" / "scenarios").glob("*-demo.yaml"))
    if len(found) != 1:
        where = home / "workflows" / "scenarios"
        raise NotFound(f"the demo plays the one scenario named *-demo.yaml in {where}; found "
                       f"{', '.join(p.name for p in found) or 'none'}")
    return found[0]


def _zone_of(story: Path) -> str:
    """The time zone of the workflow the scenario plays."""
    from engine.app.scenario import load_scenario
    from engine.compile.workflow import bundle_from_files, compile_bundle

    return compile_bundle(bundle_from_files(load_scenario(story).workflow)).definition.timezone


def _zone_label(zone: str) -> str:
    from engine.core import localtime

    return localtime.zone_label(zone)


class _Printer:
    """Prints the demo's transcript as it happens (or collects it for --json)."""

    def __init__(self, ctx: Context, transcript: list[dict[str, Any]], zone: str, title: str) -> None:
        self.ctx = ctx
        self.title = title
        self.transcript = transcript
        self.zone = zone
        self.cases: set[str] = set()

    def out(self, text: str = "") -> None:
        if not self.ctx.json:
            print(text)

    def header(self) -> None:
        self.out(f"Demo: {self.title}")
        self.out(f"(database SQLite sementara, jam disimulasikan; semua waktu dalam {_zone_label(self.zone)})")

    def step(self, result: Any) -> None:
        from engine.core import localtime as wita

        step = result.step
        entry = {"step": step.index, "kind": step.kind, "at": result.at.isoformat(), "case": result.case,
                 "actor": result.actor, "before": result.before, "after": result.after, "exit": result.exit,
                 "error": result.error, "escalations": len(result.escalations),
                 "notices": [{k: n[k] for k in ("template", "recipient_name", "recipient_role", "channel", "subject")}
                             for n in result.notices], "ok": result.ok, "mismatches": result.mismatches}
        self.transcript.append(entry)
        when = wita.long_datetime_in(result.at, self.zone)
        if step.kind == "clock":
            self.out(f"\n⏱  {when}{'  — ' + step.note if step.note else ''}")
            return
        self.out("")
        if step.note:
            self.out(f"# {step.note}")
        if result.case:
            self.cases.add(result.case)
        trigger = step.params.get("trigger") or ("catat" if step.kind == "submit" else step.kind)
        if step.kind in ("submit", "advance"):
            moved = f"{result.before or '(baru)'} → {result.after}"
            status = "" if not result.exit else f"  ✗ DITOLAK (exit {result.exit}): {result.error}"
            self.out(f"[{when}] {result.actor}: {trigger} {result.case or ''}  {moved}{status}")
        elif step.kind == "escalate":
            fired = result.escalations
            self.out(f"[{when}] pemindaian eskalasi: {len(fired)} langkah eskalasi")
            for item in fired:
                self.out(f"    {getattr(item, 'number', item)} — langkah {getattr(item, 'step', '?')}, "
                         f"terlambat {wita.span(getattr(item, 'late_by', 0))}")
        elif step.kind == "deliver":
            self.out(f"[{when}] pengiriman pemberitahuan: {result.delivered} terkirim")
        for notice in result.notices:
            who = notice["recipient_name"] + (f" ({notice['recipient_role']})" if notice["recipient_role"] else
                                              " (pelapor)")
            self.out(f"    ✉ kepada {who} via {notice['channel']}: {notice['subject']}")
            if not self.ctx.args.quiet_notices and not notice["is_html"]:
                body = notice["body"].split("\n", 1)[1] if "\n" in notice["body"] else notice["body"]
                for line in body.strip("\n").splitlines():
                    self.out(f"      │ {line}")
        for mismatch in result.mismatches:
            self.out(f"    ! tidak sesuai skenario: {mismatch}")

    def footer(self, results: list[Any], workdir: Path, kept: bool) -> None:
        from dataclasses import replace

        from engine.adapters.cli.formatting import history_text
        from engine.app.assembly import build

        played = build(replace(self.ctx.settings, database_url=f"sqlite:///{workdir / 'treckk.db'}",
                               now=results[-1].at))
        try:
            for number in sorted(self.cases):
                self.out(f"\nRiwayat {number} (dilihat sebagai Kepala Bidang):")
                self.out(history_text(played.queries.history(number, "ahmad"), played.queries.case_definition(number)))
            broken = played.queries.verify()
        finally:
            played.close()
        self.out(f"\nRantai riwayat: {'utuh' if not broken else 'RUSAK'}; "
                 f"{sum(r.ok for r in results)}/{len(results)} langkah sesuai skenario.")
        outbox = workdir / "outbox"
        if kept:
            self.out(f"\nBerkas disimpan di {workdir}:")
            self.out(f"  database : {workdir / 'treckk.db'}  (coba: treckk cases --db sqlite:///{workdir / 'treckk.db'})")
            self.out(f"  outbox   : {outbox}  ({len(list(outbox.glob('*'))) if outbox.is_dir() else 0} berkas)")
        else:
            self.out("\nDatabase dan outbox sementara dihapus; jalankan `treckk demo --keep DIR` untuk menyimpannya.")
