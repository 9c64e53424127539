"""What the administrators' pages say, in Bahasa Indonesia: field messages, action and status labels.

The app layer's messages are for the API and the command line (English); a page words the same
refusal for the person next to the field it is about.
"""

from __future__ import annotations

from typing import Any

from engine.errors import TreckkError

FIELD_MESSAGES = {
    "username": "Nama pengguna: 1–64 huruf A–Z, angka, titik, garis bawah atau tanda hubung, tanpa spasi.",
    "name": "Tulis nama orangnya dalam satu baris, paling banyak 200 karakter.",
    "role": "Pilih paling sedikit satu peran.",
    "phone": "Tulis nomor Indonesia, misalnya 0812-3456-7890.",
    "email": "Tulis satu alamat surel, misalnya nama@balangankab.go.id.",
    "password": "Kata sandi tidak dapat disimpan.",
}
TAKEN = "Nama pengguna ini sudah dipakai petugas lain."
STALE = ("Data petugas ini sudah diubah orang lain sejak halaman dibuka. Perubahan Anda tidak disimpan; "
         "halaman ini sekarang menampilkan data terbaru — periksa lalu simpan lagi bila masih perlu.")

ACTIONS = {
    "login_ok": "Masuk", "login_logout": "Keluar", "login_sessions_ended": "Sesi diakhiri", "login_failed": "Gagal masuk", "deploy": "Pasang definisi",
    "migration": "Migrasi kasus", "staff_added": "Petugas ditambahkan", "staff_updated": "Petugas diubah",
    "staff_disabled": "Petugas dinonaktifkan", "staff_enabled": "Petugas diaktifkan",
    "password_set": "Kata sandi diatur", "token_created": "Token dibuat", "token_revoked": "Token dicabut",
    "notice_retry": "Kiriman diulang",
}
OUTCOMES = {"wrong_password": "kata sandi salah", "unknown_user": "nama tidak dikenal",
            "disabled": "akun nonaktif", "locked": "terkunci sementara", "ok": "berhasil", "logout": "keluar",
            "sessions_ended": "semua sesi diakhiri (kata sandi diatur ulang)"}
STATUSES = {"pending": "Menunggu", "sent": "Terkirim", "failed": "Gagal", "undeliverable": "Tanpa penerima"}
KINDS = {"": "Semua", "masuk": "Masuk/keluar", "gagal": "Gagal masuk", "pasang": "Pasang definisi",
         "migrasi": "Migrasi", "staf": "Perubahan staf & token", "kiriman": "Kiriman diulang"}
FIELDS = {"name": "nama", "phone": "telepon", "email": "surel", "roles": "peran", "scope": "wilayah"}


def scope_message(label: str) -> str:
    """What the scope field says when a scoped role is chosen without it."""
    return f"Peran yang dipilih terikat pada satu {label.lower()}: pilih {label.lower()}-nya."


def field_errors(exc: TreckkError, scope_label: str) -> dict[str, str]:
    """The message next to the field ``exc`` is about (empty when it names none the form has)."""
    if exc.field == "scope":
        return {"scope": scope_message(scope_label)}
    if exc.field in FIELD_MESSAGES:
        return {exc.field: FIELD_MESSAGES[exc.field]}
    return {}


def target_text(entry: dict[str, Any]) -> str:
    """What an audit entry was done to, when it is not its actor (a member, a workflow, a notice)."""
    target = entry["target"]
    if not target or target == entry["actor"]:
        return ""
    if entry["action"] == "notice_retry":
        return f"kiriman #{target}"
    if entry["action"] in ("deploy", "migration"):
        return f"alur {target}"
    return str(target)


def detail_text(entry: dict[str, Any]) -> str:
    """One line saying what an audit entry's details hold."""
    detail = entry["detail"]
    action = entry["action"]
    if entry["source"] == "login":
        return f"{OUTCOMES.get(detail.get('outcome', ''), detail.get('outcome', ''))} dari {detail.get('address', '')}"
    if action == "deploy":
        return f"versi {detail.get('version')}"
    if action == "migration":
        return f"{detail.get('cases')} kasus ke versi {detail.get('to_version')}: {', '.join(detail.get('numbers', []))}"
    if action in ("token_created", "token_revoked"):
        return f"token #{detail.get('token')} “{detail.get('name', '')}”"
    if action == "staff_updated":
        parts = []
        for key, value in detail.items():
            if key in FIELDS:
                shown = ", ".join(value) if isinstance(value, list) else ("-" if value is None else str(value))
                parts.append(f"{FIELDS[key]}: {shown}")
        return "; ".join(parts)
    if action == "staff_added":
        roles = ", ".join(g["role"] + (f" ({g['scope']})" if g.get("scope") else "") for g in detail.get("grants", []))
        return f"{detail.get('name', '')}{' — ' + roles if roles else ''}"
    if action == "notice_retry":
        return f"{detail.get('template', '')} kasus {detail.get('case') or '-'} lewat {detail.get('channel', '')}"
    return ""
