"""A plain-text rendering of an HTML notice, for the text part of e-mail, WhatsApp and files.

Only the stdlib parser: headings and blocks become lines, list items get a dash, ``<style>``,
``<script>`` and ``<head>`` (the title is already the subject) are dropped, whitespace is folded
the way a browser folds it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {"address", "article", "aside", "blockquote", "div", "dl", "dt", "dd", "footer", "form", "h1", "h2",
           "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "table",
           "ul", "body", "html"}
_LINES = {"tr", "li"}
_HIDDEN = {"head", "style", "script", "template", "title"}
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0

    def _break(self) -> None:
        line = _SPACES.sub(" ", "".join(self.current)).strip()
        self.current = []
        if line:
            self.lines.append(line)
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._flush_line()
        elif tag == "li":
            self._flush_line()
            self.current.append("- ")
        elif tag == "tr":
            self._flush_line()
        elif tag == "td" or tag == "th":
            self.current.append(" ")
        elif tag in _BLOCKS:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush_line()
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _LINES:
            self._flush_line()
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.current.append(data)

    def _flush_line(self) -> None:
        # A line break inside a block: end the line without a paragraph gap.
        line = _SPACES.sub(" ", "".join(self.current)).strip()
        self.current = []
        if line:
            self.lines.append(line)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; paragraphs separated by one blank line."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    collector._break()
    text = "\n".join(collector.lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"
