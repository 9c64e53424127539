"""The ``whatsapp:`` section: which approved message template each notice is sent as.

WhatsApp lets a business send free text only within 24 hours of the recipient's last message;
outside that window only a template approved by Meta may be sent. The section maps a notice
template to one::

    whatsapp:
      templates:
        pelapor_status.txt.j2:
          name: treckk_status_aduan     # as approved in the WhatsApp Manager
          language: id                  # its language code (id, en_US, ...)
          parameters:                   # the template's {{1}}, {{2}}, ... in order
            - "{{ case.number }}"
            - "{{ state_label }}"

Checked here: the keys, the notice is a template the workflow sends as a notice, the name and
language codes, at most ``MAX_PARAMETERS`` parameters of at most ``MAX_PARAMETER_LENGTH``
characters. That each parameter renders with the notice's context is checked when the bundle is
compiled (``engine.compile.workflow``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import yaml

from engine.definition.model import NO_CHANNEL_TEMPLATES, ChannelTemplate
from engine.definition.yamlnodes import Reader, allowed_list, shown, suggestion

MAX_PARAMETERS = 10
MAX_PARAMETER_LENGTH = 500
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


def parse_whatsapp(reader: Reader, node: yaml.Node, notices: Collection[str]) -> Mapping[str, ChannelTemplate]:
    """The ``whatsapp:`` section; ``notices`` are the templates the workflow sends as notices."""
    section = reader.mapping(node, "whatsapp", allowed=("templates",), required=("templates",))
    if section is None or "templates" not in section:
        return NO_CHANNEL_TEMPLATES
    entries = reader.mapping(section["templates"], "whatsapp.templates")
    found: dict[str, ChannelTemplate] = {}
    for notice, entry in (entries or {}).items():
        what = f"whatsapp.templates.{notice}"
        key_node = reader.key_where(entry)
        if notice not in notices:
            reader.problem(key_node, f"{what}: {shown(notice)} is not a template this workflow sends as a notice; "
                                     f"known notices are {allowed_list(sorted(notices))}{suggestion(notice, notices)}")
            continue
        keys = reader.mapping(entry, what, allowed=("name", "language", "parameters"), required=("name", "language"))
        if keys is None:
            continue
        name = reader.string(keys["name"], f"the name of {what}") if "name" in keys else None
        if name is not None and not TEMPLATE_NAME.fullmatch(name):
            reader.problem(keys["name"], f"the name of {what} {shown(name)} must be the approved template's name: "
                                         "lower-case letters, digits and underscores, e.g. treckk_status_aduan")
            name = None
        language = reader.string(keys["language"], f"the language of {what}") if "language" in keys else None
        if language is not None and not LANGUAGE.fullmatch(language):
            reader.problem(keys["language"], f"the language of {what} {shown(language)} must be a language code "
                                             "such as id or en_US")
            language = None
        parameters: list[str] = []
        items = reader.sequence(keys["parameters"], f"the parameters of {what}") if "parameters" in keys else []
        if items is not None and len(items) > MAX_PARAMETERS:
            reader.problem(keys["parameters"], f"{what} has {len(items)} parameters; at most {MAX_PARAMETERS}")
            items = None
        for item in items or []:
            text = reader.string(item, f"a parameter of {what}")
            if text is not None and len(text) > MAX_PARAMETER_LENGTH:
                reader.problem(item, f"a parameter of {what} is {len(text)} characters long; at most "
                                     f"{MAX_PARAMETER_LENGTH}")
                text = None
            if text is not None:
                parameters.append(text)
        if name is not None and language is not None and items is not None and len(parameters) == len(items):
            found[notice] = ChannelTemplate(notice, name, language, tuple(parameters), key_node)
    return found or NO_CHANNEL_TEMPLATES
