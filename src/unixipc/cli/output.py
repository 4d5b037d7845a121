"""Tables for terminals and JSON for scripts, from the library's dataclasses."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
from typing import Any, Sequence

from ..keys import Permissions, format_key
from .environment import Environment


def iso_time(value: float | int | None) -> str | None:
    """Seconds since the epoch as ISO 8601 (UTC); 0/None (never) as None."""
    if not value:
        return None
    return _dt.datetime.fromtimestamp(value, _dt.timezone.utc).isoformat()


def human_time(value: float | int | None) -> str:
    """Seconds since the epoch as local time for a terminal; 0 as 'never'."""
    if not value:
        return "never"
    return _dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, named tuples, enums and bytes as plain JSON values.
    Fields whose name ends in ``_time`` become ISO 8601 strings (null for
    never); a Permissions record shows its key in hex and mode in octal."""
    if isinstance(obj, Permissions):
        # As ipcs shows them: the key in hex, the mode in octal.
        out = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        out["key"] = format_key(obj.key)
        out["mode"] = f"{obj.mode:o}"
        return out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            out[f.name] = iso_time(value) if f.name.endswith("_time") else to_jsonable(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return {k: to_jsonable(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, _dt.datetime):
        return obj.isoformat()
    return obj


def print_json(env: Environment, obj: Any) -> None:
    env.out(json.dumps(to_jsonable(obj), indent=2))


def print_table(env: Environment, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
    """Columns padded to fit; numbers right-aligned; bold header on a terminal."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i])
                 for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    if title:
        env.out(env.bold(title))
    env.out(env.bold(line(headers)))
    for row in cells:
        env.out(line(row))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_bytes(data: bytes) -> str:
    """Message bytes as safe terminal text: valid UTF-8 printable characters
    as they are; a backslash, control characters (ESC, BEL, CR, ...) and
    other non-printable ones escaped as Python writes them (``\\x1b``,
    ``\\n``, ``\\u200b``); bytes that are not UTF-8 as ``\\xff``. Nothing a
    queue's writer sends can move the cursor, retitle or recolour the
    reader's terminal."""
    out = []
    for ch in data.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if ch in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def json_data(data: bytes, *, text: bool = True) -> dict[str, str]:
    """Bytes for JSON: ``{"encoding": "text", "data": ...}`` when they are
    valid UTF-8 (and ``text``), else ``{"encoding": "base64", "data": ...}``."""
    import base64

    if text:
        try:
            return {"encoding": "text", "data": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"encoding": "base64", "data": base64.b64encode(data).decode("ascii")}
