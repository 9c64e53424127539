"""Reading the photos of a submitted form: each file field's uploads stored through the
application's attachment store, with the uploads of an earlier try of the same form carried on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile

from engine.app.attachments import Attachments
from engine.definition.model import InputSpec, WorkflowDefinition
from engine.errors import InvalidInput

CARRIED_SUFFIX = "__ada"
"""A hidden input ``<field>__ada`` holds a reference uploaded with an earlier try of the form."""


@dataclass(slots=True)
class Received:
    """The raw files and carried references of a form's file fields, read off the request."""

    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    carried: dict[str, list[str]] = field(default_factory=dict)
    too_large: set[str] = field(default_factory=set)


def file_fields(definition: WorkflowDefinition, inputs: Sequence[InputSpec]) -> list[str]:
    return [spec.field for spec in inputs if definition.fields[spec.field].type == "references"]


def names_in(form: FormData) -> list[str]:
    """The fields of ``form`` that carry files or carried references."""
    names = {key for key, value in form.multi_items() if isinstance(value, UploadFile)}
    names.update(key[:-len(CARRIED_SUFFIX)] for key in form.keys() if key.endswith(CARRIED_SUFFIX))
    return sorted(names)


async def receive(form: FormData, names: Sequence[str], max_bytes: int) -> Received:
    """The files under ``names`` (each read up to one byte past ``max_bytes``) and the carried references."""
    received = Received()
    for name in names:
        received.carried[name] = [str(v) for v in form.getlist(name + CARRIED_SUFFIX) if isinstance(v, str) and v]
        for item in form.getlist(name):
            if not isinstance(item, UploadFile) or not item.filename:
                continue
            data = await item.read(max_bytes + 1)
            if len(data) > max_bytes:
                received.too_large.add(name)
                continue
            received.files.setdefault(name, []).append((item.filename, data))
    return received


def store(received: Received, store: Attachments, actor: str, *, only: Sequence[str]
          ) -> tuple[dict[str, list[str]], dict[str, str], dict[str, list[str]]]:
    """(references by field, problems by field, references to carry into a retry): stores each file of
    the fields in ``only`` (the file fields of the form's action; anything else sent is ignored)."""
    references: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for name in received.too_large & set(only):
        problems[name] = f"Berkas terlalu besar; paling besar {store.max_bytes // (1024 * 1024) or 1} MB."
    for name, carried in received.carried.items():
        if name not in only:
            continue
        if carried and not store.uploaded_by(carried, actor):
            problems[name] = "Lampiran sebelumnya tidak dikenali; unggah fotonya lagi."
            continue
        references[name] = list(carried)
    for name, files in received.files.items():
        if name not in only:
            continue
        for filename, data in files:
            try:
                reference = store.store(actor, data, filename, field=name)
            except InvalidInput as exc:
                problems[name] = f"{filename[:60]}: {exc}"
                continue
            if reference not in references.setdefault(name, []):
                references[name].append(reference)
    return references, problems, {name: refs for name, refs in references.items() if refs}
