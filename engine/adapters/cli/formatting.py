"""Human-readable renderings of the JSON-shaped views (labels in Bahasa Indonesia)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _wita(iso: str | None) -> str:
    from engine.core import localtime as wita

    return wita.long_datetime(datetime.fromisoformat(iso)) if iso else "-"


def deadline_line(deadline: dict[str, Any] | None) -> str:
    if not deadline:
        return "Batas waktu: -"
    line = f"Batas waktu: {deadline['due_at_wita']}"
    if deadline["overdue"]:
        line += f" — TERLAMBAT {deadline['overdue_text']}"
    if deadline["escalation_steps"]:
        line += f" (eskalasi {deadline['escalation_steps_fired']}/{deadline['escalation_steps']})"
    return line


def case_text(view: dict[str, Any]) -> str:
    lines = [
        f"{view['number']}  {view['state_label']} ({view['state']})  versi {view['version']}",
        f"Alur: {view['workflow']} v{view['definition_version']}   Dibuat: {_wita(view['created_at'])}",
        deadline_line(view["deadline"]),
        "Data:",
    ]
    for name, value in view["data"].items():
        shown = ", ".join(value) if isinstance(value, list) else value
        lines.append(f"  {name}: {shown}")
    allowed = view["allowed_triggers"]
    lines.append(f"Dapat dilakukan: {', '.join(allowed) if allowed else '-'}")
    return "\n".join(lines)


def history_text(events: list[dict[str, Any]]) -> str:
    lines = []
    for event in events:
        lines.append(f"{event['seq']:>3}. {_wita(event['at'])}  {event['trigger']}: {event['from'] or '-'} → "
                     f"{event['to']}  oleh {event['actor']} ({event['role']})")
        for name, value in event["input"].items():
            lines.append(f"       {name}: {value}")
        if event["comment"]:
            lines.append(f"       catatan: {event['comment']}")
    return "\n".join(lines)


def case_rows_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(tidak ada aduan)"
    lines = []
    for row in rows:
        deadline = row["deadline"]
        due = deadline["due_at_wita"] if deadline else "-"
        late = f"  TERLAMBAT {deadline['overdue_text']}" if deadline and deadline["overdue"] else ""
        actions = f"  [{', '.join(row['allowed_triggers'])}]" if row.get("allowed_triggers") else ""
        lines.append(f"{row['number']}  {row['state_label']:<28} {row['scope'] or '-':<16} batas: {due}{late}"
                     f"{actions}")
    return "\n".join(lines)
