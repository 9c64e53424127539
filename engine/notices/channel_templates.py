"""Free text or an approved template: how a notice goes out on WhatsApp.

WhatsApp carries free text only within ``WINDOW`` (24 hours) of the recipient's last message to
us; outside it only a message template approved by Meta may be sent. A notice routed to the
``whatsapp`` channel whose template the workflow maps (``whatsapp.templates`` in the definition)
gets, when rendered, the template call — name, language and the parameters rendered with the
notice's own context — in its ``channel_data``; when the outbox row is queued, the call is dropped
again if the recipient wrote within the window at that moment (the text is sent instead). A
notice without a mapping is always sent as text; outside the window WhatsApp refuses it and its
status callback marks the notice failed, naming the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from engine.channels.whatsapp import wa_address
from engine.compile.workflow import CompiledWorkflow
from engine.store import whatsapp_rows

CHANNEL = "whatsapp"
WINDOW = timedelta(hours=24)


def template_call(compiled: CompiledWorkflow, template: str, channel: str,
                  context: Mapping[str, Any]) -> str | None:
    """The ``channel_data`` of a notice: the template call (JSON) when it goes by WhatsApp and is mapped."""
    if channel != CHANNEL:
        return None
    call = compiled.definition.whatsapp_templates.get(template)
    if call is None:
        return None
    parameters = [compiled.templates.render_snippet(source, context) or "-" for source in call.parameters]
    return json.dumps({"template": {"name": call.name, "language": call.language, "parameters": parameters}},
                      ensure_ascii=False)


def apply_window(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Drop the template call of each WhatsApp row whose recipient wrote within the window (text goes)."""
    waiting = [row for row in rows if row.get("channel_data") and row.get("channel") == CHANNEL and row.get("address")]
    if not waiting:
        return
    heard = whatsapp_rows.last_heard(connection, sorted({wa_address(str(row["address"])) for row in waiting}))
    for row in waiting:
        last = heard.get(wa_address(str(row["address"])))
        if last is not None and row["created_at"] - last < WINDOW:
            row["channel_data"] = None
