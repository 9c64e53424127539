"""The guided WhatsApp conversation that files a complaint, as pure steps (no I/O, no clock).

A conversation is a ``step`` and what it gathered so far (``data``, plain JSON values). Each
incoming message (``Incoming``: text, a shared location, a photo already stored, or something
else) gives a ``Turn``: the next step and data, the replies to send (Bahasa Indonesia), and at
most one ``action`` for the application to carry out — file the complaint (``Submit``), add a
note to an open case (``AddNote``), or answer ``status NOMOR`` (``Status``). The questions: the
category (when the channel asks for one), what happened, where (a shared location or typed
text), the kecamatan from a numbered list, up to ``MAX_PHOTOS`` photos, and whether the name may
be recorded. ``batal`` cancels; ``status NOMOR`` works at any point and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_PHOTOS = 3
MIN_DESCRIPTION = 10
"""The fewest characters accepted as what happened (a greeting is not a complaint)."""
MAX_TEXT = 2000
"""The most characters kept of one typed answer."""

START = "start"
SERVICE = "kategori"
DESCRIPTION = "uraian"
LOCATION = "lokasi"
SCOPE = "kecamatan"
PHOTOS = "foto"
ANONYMOUS = "anonim"
NOTE_OR_NEW = "catatan_atau_baru"
STEPS = (START, SERVICE, DESCRIPTION, LOCATION, SCOPE, PHOTOS, ANONYMOUS, NOTE_OR_NEW)

_STATUS = re.compile(r"^\s*status\s+([A-Za-z]{2,6}-\d{4}-\d{1,9})\s*$", re.IGNORECASE)
_CANCEL = frozenset({"batal", "batalkan", "stop", "berhenti"})
_DONE = frozenset({"selesai", "lewati", "tidak", "tidak ada", "tdk", "skip", "lanjut"})
_YES = frozenset({"1", "ya", "iya", "y", "boleh"})
_NO = frozenset({"2", "tidak", "tdk", "anonim", "rahasia", "rahasiakan", "t"})


@dataclass(frozen=True, slots=True)
class IntakeForm:
    """What the conversation asks for, from the workflow's public intake for WhatsApp."""

    scope_choices: tuple[tuple[str, str], ...]
    """(value, label) of the kecamatan, in the definition's order: the numbered list."""
    service_choices: tuple[tuple[str, str], ...] = ()
    """(value, label) of the categories; empty when the channel does not ask for one."""
    has_photos: bool = True
    greeting: str = "Selamat datang di La-Lisa, layanan aduan Satpol PP."


@dataclass(frozen=True, slots=True)
class Incoming:
    """One incoming message as the conversation sees it (a photo already downloaded and stored)."""

    kind: str
    """``text``, ``location``, ``photo``, ``refused_photo`` (too large or not a photo) or ``other``."""
    text: str = ""
    latitude: float | None = None
    longitude: float | None = None
    place: str = ""
    """The name or address WhatsApp sends with a shared location."""
    photo: str | None = None
    """The stored photo's reference."""
    problem: str = ""
    """Why a photo was refused, in words for the sender."""
    profile_name: str = ""


@dataclass(frozen=True, slots=True)
class Submit:
    """File the complaint with what was gathered."""

    description: str
    location: str
    pin: str | None
    scope: str | None
    service: str | None
    photos: tuple[str, ...]
    anonymous: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class AddNote:
    """Add the sender's message to their open case."""

    number: str
    text: str
    photos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with the case's tracking text."""

    number: str


Action = Submit | AddNote | Status


@dataclass(frozen=True, slots=True)
class Turn:
    """What one message leads to: the next step (None: the conversation is over), replies, an action."""

    step: str | None
    data: dict[str, Any] = field(default_factory=dict)
    replies: tuple[str, ...] = ()
    action: Action | None = None


def numbered(choices: tuple[tuple[str, str], ...]) -> str:
    """``1. Label`` lines for a list of choices."""
    return "\n".join(f"{index}. {label}" for index, (_value, label) in enumerate(choices, start=1))


def pick(choices: tuple[tuple[str, str], ...], answer: str) -> str | None:
    """The value chosen by its number, its value or its label (case and spaces ignored), or None."""
    cleaned = " ".join(answer.strip().rstrip(".").split()).lower()
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(choices):
        return choices[int(cleaned) - 1][0]
    for value, label in choices:
        if cleaned in (value.lower(), label.lower(), label.lower().replace("kecamatan ", "")):
            return value
    return None


def _question(step: str, form: IntakeForm) -> str:
    if step == SERVICE:
        return "Aduan Anda tentang apa? Balas dengan nomornya:\n" + numbered(form.service_choices)
    if step == DESCRIPTION:
        return "Ceritakan apa yang terjadi (singkat, jelas)."
    if step == LOCATION:
        return ("Di mana kejadiannya? Bagikan lokasi (📎 → Lokasi) atau tulis alamat/patokannya.")
    if step == SCOPE:
        return "Di kecamatan mana? Balas dengan nomornya:\n" + numbered(form.scope_choices)
    if step == PHOTOS:
        return (f"Kirim foto kejadian bila ada (paling banyak {MAX_PHOTOS}). "
                "Bila tidak ada atau sudah cukup, balas SELESAI.")
    if step == ANONYMOUS:
        return ("Bolehkah nama Anda dicatat pada aduan?\n1. Ya, catat nama saya\n"
                "2. Tidak, rahasiakan nama saya (anonim)")
    raise ValueError(f"no question for step {step!r}")


def _after(step: str, form: IntakeForm) -> str:
    order = [s for s in (SERVICE, DESCRIPTION, LOCATION, SCOPE, PHOTOS, ANONYMOUS)
             if (s != SERVICE or form.service_choices) and (s != PHOTOS or form.has_photos)
             and (s != SCOPE or form.scope_choices)]
    if step == START:
        return order[0]
    return order[order.index(step) + 1] if order.index(step) + 1 < len(order) else ""


def _text(message: Incoming) -> str:
    return " ".join(message.text.split())[:MAX_TEXT]


def begin(form: IntakeForm, message: Incoming, open_cases: tuple[str, ...]) -> Turn:
    """The first message of a new conversation (none under way, or the last one expired)."""
    status = _STATUS.match(message.text) if message.kind == "text" else None
    if status:
        return Turn(None, action=Status(status.group(1).upper()))
    if message.kind == "text" and _text(message).lower() in _CANCEL:
        return Turn(None, replies=("Tidak ada percakapan yang berjalan. Kirim pesan apa saja untuk membuat aduan.",))
    data: dict[str, Any] = {"photos": [message.photo] if message.photo else []}
    if open_cases and message.kind in ("text", "photo"):
        data["note"] = _text(message)
        data["case"] = open_cases[0]
        return Turn(NOTE_OR_NEW, data, (f"Anda punya aduan yang masih berjalan: {open_cases[0]}.\n"
                                        f"1. Tambahkan pesan ini sebagai keterangan pada {open_cases[0]}\n"
                                        "2. Buat aduan baru",))
    first = _after(START, form)
    replies = [form.greeting, "Balas BATAL kapan saja untuk berhenti, atau STATUS NOMOR untuk melihat aduan."]
    if first == DESCRIPTION and message.kind == "text" and len(_text(message)) >= MIN_DESCRIPTION:
        # "Ada sampah menumpuk di pasar" as the very first message is already what happened.
        data["description"] = _text(message)
        nxt = _after(DESCRIPTION, form)
        return Turn(nxt, data, (*replies, "Terima kasih, keterangan dicatat.", _question(nxt, form)))
    return Turn(first, data, (*replies, _question(first, form)))


def step(form: IntakeForm, current: str, data: dict[str, Any], message: Incoming) -> Turn:
    """The next turn of a conversation at ``current`` with ``data``."""
    data = {**data, "photos": list(data.get("photos", []))}
    if message.kind == "text":
        status = _STATUS.match(message.text)
        if status:
            return Turn(current, data, action=Status(status.group(1).upper()))
        if _text(message).lower() in _CANCEL:
            return Turn(None, replies=("Baik, aduan dibatalkan. Tidak ada yang dicatat. Kirim pesan apa saja untuk "
                                       "memulai lagi.",))
    replies: list[str] = []
    if message.kind == "refused_photo":
        return Turn(current, data, (f"Foto itu tidak dapat diterima: {message.problem}.",))
    if message.kind == "photo" and message.photo:
        if len(data["photos"]) >= MAX_PHOTOS:
            replies.append(f"Sudah ada {MAX_PHOTOS} foto; foto ini tidak ditambahkan.")
        elif message.photo not in data["photos"]:
            data["photos"].append(message.photo)
            replies.append(f"Foto diterima ({len(data['photos'])} dari paling banyak {MAX_PHOTOS}).")
        if current != PHOTOS and current != NOTE_OR_NEW and not message.text:
            return Turn(current, data, (*replies, _question(current, form)))
        if current == PHOTOS:
            if len(data["photos"]) >= MAX_PHOTOS:
                nxt = _after(PHOTOS, form)
                return Turn(nxt, data, (*replies, _question(nxt, form)))
            return Turn(current, data, tuple(replies))
    answer = _text(message)

    if current == NOTE_OR_NEW:
        if message.kind == "photo":
            return Turn(current, data, (*replies, "Balas 1 atau 2."))
        if answer in ("1",) or answer.lower() in ("tambah", "tambahkan"):
            return Turn(None, action=AddNote(str(data["case"]), str(data.get("note") or ""),
                                             tuple(data["photos"])))
        if answer in ("2",) or answer.lower() in ("baru", "aduan baru"):
            fresh: dict[str, Any] = {"photos": data["photos"]}
            first = _after(START, form)
            return Turn(first, fresh, (form.greeting, _question(first, form)))
        return Turn(current, data, ("Balas 1 untuk menambahkan keterangan, atau 2 untuk membuat aduan baru.",))

    if current == SERVICE:
        chosen = pick(form.service_choices, answer) if message.kind == "text" else None
        if chosen is None:
            return Turn(current, data, ("Pilihan itu tidak ada dalam daftar. " + _question(SERVICE, form),))
        data["service"] = chosen
    elif current == DESCRIPTION:
        if message.kind != "text" and not (message.kind == "photo" and answer):
            return Turn(current, data, (*replies, _question(DESCRIPTION, form)))
        if len(answer) < MIN_DESCRIPTION:
            return Turn(current, data, (*replies, "Mohon ceritakan sedikit lebih lengkap apa yang terjadi."))
        data["description"] = answer
    elif current == LOCATION:
        if message.kind == "location" and message.latitude is not None and message.longitude is not None:
            data["pin"] = f"{message.latitude:.6f},{message.longitude:.6f}"
            data["location"] = (" ".join(message.place.split())[:MAX_TEXT]
                                or f"Lokasi dibagikan lewat WhatsApp ({data['pin']})")
        elif message.kind == "text" and len(answer) >= 3:
            data["location"] = answer
        else:
            return Turn(current, data, (*replies, _question(LOCATION, form)))
    elif current == SCOPE:
        chosen = pick(form.scope_choices, answer) if message.kind == "text" else None
        if chosen is None:
            return Turn(current, data, ("Nomor itu tidak ada dalam daftar. " + _question(SCOPE, form),))
        data["scope"] = chosen
    elif current == PHOTOS:
        if answer.lower() not in _DONE:
            return Turn(current, data, (f"Kirim fotonya, atau balas SELESAI untuk lanjut.",))
    elif current == ANONYMOUS:
        lowered = answer.lower()
        if lowered in _YES:
            anonymous = False
        elif lowered in _NO:
            anonymous = True
        else:
            return Turn(current, data, ("Balas 1 (nama boleh dicatat) atau 2 (anonim).",))
        name = " ".join(message.profile_name.split())[:200] or None
        return Turn(None, action=Submit(
            description=str(data["description"]), location=str(data["location"]), pin=data.get("pin"),
            scope=data.get("scope"), service=data.get("service"), photos=tuple(data["photos"]),
            anonymous=anonymous, name=None if anonymous else name))
    nxt = _after(current, form)
    return Turn(nxt, data, (*replies, _question(nxt, form)))


RECEIPT_MARK = "Kode pelacakan: "
"""What only the receipt reply says (it carries the tracking code)."""


def receipt_text(number: str, tracking_code: str, anonymous: bool) -> str:
    """The reply once the complaint is filed."""
    who = " Nama Anda dirahasiakan." if anonymous else ""
    return (f"Terima kasih, aduan Anda sudah kami terima dengan nomor {number}.{who}\n"
            f"{RECEIPT_MARK}{tracking_code}\n"
            f"Simpan nomor dan kode ini. Untuk melihat perkembangannya, balas: STATUS {number}")


def expired_text() -> str:
    """Said when a conversation was left too long and starts again."""
    return "Percakapan sebelumnya sudah berakhir karena lama tidak ada balasan; yang belum lengkap tidak dicatat."
