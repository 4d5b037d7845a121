"""lsipc's columns for ``unixipc ls -o``: the same names, the same cell
text (sizes human-readable unless --bytes, permissions as rwx unless
numeric, empty for never), and lsipc's output modes (table, --raw,
--export, --noheadings)."""

from __future__ import annotations

import re
import stat as _stat
import time
from typing import Any, Callable

from ..keys import format_key
from .sysv import owner_name

Getter = Callable[[Any, "Style"], str]


class Style:
    """How cells are written: ``--bytes``, ``--numeric-perms``, ``--time-format``."""

    def __init__(self, *, in_bytes: bool = False, numeric_perms: bool = False,
                 time_format: str = "short") -> None:
        self.in_bytes, self.numeric_perms, self.time_format = in_bytes, numeric_perms, time_format

    def size(self, value: int) -> str:
        return str(value) if self.in_bytes else human_size(value)

    def time(self, value: float | int) -> str:
        if not value:
            return ""
        if self.time_format == "iso":
            return _iso(value)
        if self.time_format == "full":
            return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(value))
        return short_time(value)


def _iso(value: float | int) -> str:
    text = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(value))
    return text[:-2] + ":" + text[-2:]  # +0100 -> +01:00, as lsipc writes it


def short_time(value: float | int, now: float | None = None) -> str:
    """lsipc's short time: HH:MM today, 'MonDD' this year, else 'YYYY-Mon'."""
    then, today = time.localtime(value), time.localtime(now)
    if then.tm_year == today.tm_year and then.tm_yday == today.tm_yday:
        return time.strftime("%H:%M", then)
    if then.tm_year == today.tm_year:
        return time.strftime("%b%d", then)
    return time.strftime("%Y-%b", then)


def human_size(value: int) -> str:
    """A size as lsipc (util-linux) prints it: 0B, 512B, 4.9K, 16K, 1M, 16E."""
    exp = 0
    while exp < 60 and value >= (1 << (exp + 10)):
        exp += 10
    if not exp:
        return f"{value}B"
    dec, frac = value >> exp, value & ((1 << exp) - 1)
    if frac:
        frac = ((frac * 1000 >> exp) + 50) // 100  # thousandths, rounded to tenths
        if frac == 10:
            dec, frac = dec + 1, 0
    unit = "BKMGTPE"[exp // 10]
    return f"{dec}.{frac}{unit}" if frac else f"{dec}{unit}"


def perms(mode: int, style: Style) -> str:
    if style.numeric_perms:
        return f"{mode & 0o777:04o}"
    return _stat.filemode(mode & 0o777)[1:]


def group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def command_of(pid: int) -> str:
    """The creator's command line while it runs (lsipc's COMMAND), else ''."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


GENERIC: dict[str, Getter] = {
    "KEY": lambda s, st: format_key(s.perm.key),
    "ID": lambda s, st: str(s.id),
    "OWNER": lambda s, st: owner_name(s.perm.uid),
    "PERMS": lambda s, st: perms(s.perm.mode, st),
    "CUID": lambda s, st: str(s.perm.cuid),
    "CUSER": lambda s, st: owner_name(s.perm.cuid),
    "CGID": lambda s, st: str(s.perm.cgid),
    "CGROUP": lambda s, st: group_name(s.perm.cgid),
    "UID": lambda s, st: str(s.perm.uid),
    "USER": lambda s, st: owner_name(s.perm.uid),
    "GID": lambda s, st: str(s.perm.gid),
    "GROUP": lambda s, st: group_name(s.perm.gid),
    "CTIME": lambda s, st: st.time(s.change_time),
}

BY_KIND: dict[str, dict[str, Getter]] = {
    "shm": {"SIZE": lambda s, st: st.size(s.size),
            "NATTCH": lambda s, st: str(s.attach_count),
            "STATUS": lambda s, st: ",".join(w for w, on in (("dest", s.removed),
                                                            ("locked", s.locked)) if on),
            "ATTACH": lambda s, st: st.time(s.attach_time),
            "DETACH": lambda s, st: st.time(s.detach_time),
            "COMMAND": lambda s, st: command_of(s.creator_pid),
            "CPID": lambda s, st: str(s.creator_pid),
            "LPID": lambda s, st: str(s.last_pid)},
    "msg": {"USEDBYTES": lambda s, st: st.size(s.current_bytes),
            "MSGS": lambda s, st: str(s.message_count),
            "SEND": lambda s, st: st.time(s.send_time),
            "RECV": lambda s, st: st.time(s.receive_time),
            "LSPID": lambda s, st: str(s.last_send_pid),
            "LRPID": lambda s, st: str(s.last_receive_pid)},
    "sem": {"NSEMS": lambda s, st: str(s.count),
            "OTIME": lambda s, st: st.time(s.op_time)},
}

#: lsipc's default columns for each kind.
DEFAULTS = {"shm": "KEY,ID,PERMS,OWNER,SIZE,NATTCH,STATUS,CTIME,CPID,LPID,COMMAND",
            "msg": "KEY,ID,PERMS,OWNER,USEDBYTES,MSGS,LSPID,LRPID",
            "sem": "KEY,ID,PERMS,OWNER,NSEMS"}


def parse_columns(text: str, kind: str) -> list[str]:
    """COLUMNS as lsipc takes them (comma-separated, any case; a leading '+'
    adds to the defaults). ValueError names a column unknown for ``kind``."""
    extra = text.startswith("+")
    names = [n.strip().upper() for n in text.lstrip("+").split(",") if n.strip()]
    if extra:
        names = DEFAULTS[kind].split(",") + names
    known = {**GENERIC, **BY_KIND[kind]}
    for name in names:
        if name not in known:
            raise ValueError(f"unknown column for {kind}: {name!r} "
                             f"(known: {', '.join(known)})")
    return names


def cells(stat: Any, kind: str, names: list[str], style: Style) -> list[str]:
    known = {**GENERIC, **BY_KIND[kind]}
    return [known[n](stat, style) for n in names]


def render(names: list[str], rows: list[list[str]], *, mode: str, headings: bool,
           shell: bool = False, right: frozenset[str] = frozenset(), sep: str = "  ") -> list[str]:
    """Lines for ``mode``: 'table' (padded columns, ``sep`` between them,
    the columns in ``right`` right-aligned), 'raw' (one space between
    cells, empty cells kept), 'export' (NAME="value" pairs) or 'newline'
    (lsipc -n: the export pairs one per line). ``shell``: column names as
    shell variable names (lsipc -y: USE% is USE_PCT)."""
    heads = [shell_name(n) for n in names] if shell else names
    if mode in ("export", "newline"):
        between = "\n" if mode == "newline" else " "
        return [between.join(f'{n}="{_quote(v)}"' for n, v in zip(heads, row)) for row in rows]
    out = [heads] if headings else []
    out += rows
    if mode == "raw":
        return [" ".join(_raw(v) for v in row) for row in out]
    # lsipc -y sizes the columns by the names it would have shown.
    widths = [max(len(c) for c in col) for col in zip(names, *rows)]
    return [sep.join(v.rjust(widths[i]) if names[i] in right else v.ljust(widths[i])
                     for i, v in enumerate(row)).rstrip() for row in out]


def shell_name(name: str) -> str:
    """A column name usable as a shell variable (lsipc -y): '%' becomes
    '_PCT', any other character but letters, digits and '_' becomes '_'."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name.replace("%", "_PCT"))
    return "_" + text if text[:1].isdigit() else text


#: The long names lsipc --id shows its columns by.
PRETTY = {"KEY": "Key", "ID": "ID", "OWNER": "Owner", "PERMS": "Permissions",
          "CUID": "Creator UID", "CUSER": "Creator user", "CGID": "Creator GID",
          "CGROUP": "Creator group", "UID": "UID", "USER": "User name", "GID": "GID",
          "GROUP": "Group name", "CTIME": "Last change", "SIZE": "Segment size",
          "NATTCH": "Attached processes", "STATUS": "Status", "ATTACH": "Attach time",
          "DETACH": "Detach time", "COMMAND": "Creator command", "CPID": "Creator PID",
          "LPID": "Last user PID", "USEDBYTES": "Bytes used", "MSGS": "Messages",
          "SEND": "Msg sent", "RECV": "Msg received", "LSPID": "Msg sender",
          "LRPID": "Msg receiver", "NSEMS": "Semaphores", "OTIME": "Last operation"}

#: Columns whose empty cell means "never" or "not known": lsipc --id leaves
#: them out rather than print an empty line.
_OMITTED_WHEN_EMPTY = {"CTIME", "ATTACH", "DETACH", "COMMAND", "SEND", "RECV", "OTIME"}

#: Every column of each kind, in lsipc's order: what --id shows by default.
ALL = {kind: list(GENERIC) + list(BY_KIND[kind]) for kind in BY_KIND}


def pretty(names: list[str], row: list[str]) -> list[str]:
    """One object as lsipc --id prints it: 'Long name:' padded to 36
    columns, the value padded to 36 (lsipc's printf("%s:%*c%-36s"))."""
    out = []
    for name, value in zip(names, row):
        if name in _OMITTED_WHEN_EMPTY and not value:
            continue
        title = PRETTY[name]
        out.append(f"{title}:{' ' * max(1, 35 - len(title))}{value:<36}")
    return out


def semaphore_elements(ident: int) -> list[str] | None:
    """lsipc --id's 'Elements:' table of a semaphore set (value, waiters,
    last pid and its command), or None without read permission."""
    from .. import SemaphoreSet

    try:
        sems = SemaphoreSet.from_id(ident)
        rows = [[str(i), str(s.value), str(s.ncount), str(s.zcount), str(s.last_pid),
                 command_of(s.last_pid) if s.last_pid else ""]
                for i, s in ((i, sems[i]) for i in range(len(sems)))]
    except OSError:
        return None
    names = ["SEMNUM", "VALUE", "NCOUNT", "ZCOUNT", "PID", "COMMAND"]
    widths = [max(len(c) for c in col) for col in zip(names, *rows)]
    lines = ["Elements:", ""]
    for row in [names] + rows:  # all right-aligned; an empty last cell is not padded
        lines.append(" ".join(v.rjust(widths[i]) if v or i < len(row) - 1 else v
                              for i, v in enumerate(row)))
    return lines


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _raw(value: str) -> str:
    return value.replace("\\", "\\x5c").replace(" ", "\\x20")


