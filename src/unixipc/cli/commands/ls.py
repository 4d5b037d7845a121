"""unixipc ls: every System V object on the system."""

from __future__ import annotations

import argparse
import errno
import os
from typing import Any, Callable

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "list System V message queues, semaphore sets and shared memory segments"
DESCRIPTION = """\
List the System V objects of this IPC namespace, as ipcs does (every object
the kernel shows; --mine: only yours): key (hex), id, owner, permissions
and the useful columns of each kind (queues: messages, bytes, max bytes,
last send/receive pids and times; semaphore sets: count and values;
segments: size, attached processes, creator pid). -t shows the times, -p
the pids, -c the creators and owners (as ipcs -t, -p, -c); -l the
system's limits (ipcs -l), -u what is in use against them (ipcs -u), -g
the same as lsipc -g's table; -i ID one object as lsipc --id shows it. A
table on a terminal; --json for scripts (each object's JSON record, the
same as 'stat --json' gives). -q, -s and -m combine, as in ipcs.
--posix lists the POSIX objects instead: message queues (name, owner,
permissions, messages, bytes), named semaphores (value: ? when you may
not open it) and shared memory segments (size)."""
EPILOG = """\
examples:
  $ unixipc ls -q
  Message queues
  key         id  owner  perms  messages  bytes  max-bytes  lspid  lrpid  last-send        last-recv
  0x00000000   0  root   600           1      3      16384   4242      0  Nov 25 09:11:29  -
  $ unixipc ls -m --mine            your shared memory segments
  $ unixipc ls -t                   when each object was last used and changed
  $ unixipc ls -l                   the system's limits
  $ unixipc ls -s --watch 1          semaphore values and waiters, live
  $ unixipc ls --json | jq '.msg[].id'
  $ unixipc ls --posix               POSIX queues, semaphores and segments"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags

    add_kind_flags(parser, required=False, combinable=True)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--mine", action="store_true", help="only the objects you own")
    parser.add_argument("--all-users", action="store_true",
                        help="every user's objects (the default, as ipcs)")
    parser.add_argument("--posix", action="store_true",
                        help="the POSIX objects instead: message queues (/dev/mqueue), "
                             "named semaphores and shared memory segments (/dev/shm)")
    lsipc = parser.add_argument_group(
        "lsipc's output (with one of -q, -s, -m)",
        "the columns of lsipc, with its names and cell text; any of these options "
        "switches to it")
    lsipc.add_argument("-o", "--output", metavar="COLUMNS",
                       help="columns to show, comma-separated, as lsipc names them "
                            "(KEY,ID,OWNER,PERMS,SIZE,...; '+LIST' adds to the defaults)")
    lsipc.add_argument("--noheadings", action="store_true", help="no header line")
    lsipc.add_argument("-r", "--raw", action="store_true",
                       help="cells separated by one space, nothing aligned")
    lsipc.add_argument("-e", "--export", action="store_true",
                       help='NAME="value" pairs, one object per line')
    lsipc.add_argument("-n", "--newline", action="store_true",
                       help='NAME="value" pairs, each on a line of its own')
    lsipc.add_argument("-y", "--shell", action="store_true",
                       help="column names usable as shell variables (USE%% is USE_PCT)")
    lsipc.add_argument("--notruncate", action="store_true",
                       help="never cut a cell short (unixipc never does: accepted for "
                            "lsipc's command lines)")
    lsipc.add_argument("-i", "--id", type=int, metavar="ID",
                       help="the one object ID (of the kind given), each column on a line "
                            "of its own with lsipc's long names (with -e, -r or -n: its row)")
    lsipc.add_argument("-g", "--global", dest="global_view", action="store_true",
                       help="lsipc's RESOURCE/DESCRIPTION/LIMIT/USED/USE%% table: each "
                            "limit, and what is in use against it (-q, -s, -m choose)")
    lsipc.add_argument("-b", "--bytes", action="store_true",
                       help="sizes in bytes (lsipc's default is human-readable: 4.9K)")
    lsipc.add_argument("-P", "--numeric-perms", action="store_true",
                       help="permissions in octal (default: rw-r--r--)")
    lsipc.add_argument("--time-format", choices=["short", "full", "iso"],
                       help="times as lsipc writes them (default short)")
    add_watch_arguments(parser)
    parser.add_argument("--human", action="store_true",
                        help="sizes human-readable (4.9K) in the default tables too")
    view = parser.add_mutually_exclusive_group()
    view.add_argument("-t", "--time", dest="view", action="store_const", const="time",
                      help="times: last send/receive, attach/detach, operation; change")
    view.add_argument("-p", "--pid", dest="view", action="store_const", const="pid",
                      help="pids: last sender and receiver, creator and last attacher")
    view.add_argument("-c", "--creator", dest="view", action="store_const", const="creator",
                      help="creator and owner users and groups")
    view.add_argument("-l", "--limits", dest="view", action="store_const", const="limits",
                      help="the system's limits (ipcs -l)")
    view.add_argument("-u", "--summary", dest="view", action="store_const", const="summary",
                      help="what is in use (ipcs -u)")


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                        help="a live view every SECONDS (default 2): redrawn in place on a "
                             "terminal, one JSON line per tick to a pipe; Ctrl-C ends it")
    parser.add_argument("--ticks", type=int, metavar="N",
                        help="with --watch: stop after N views")


def watch(args: argparse.Namespace, env: Environment, draw: Callable[[], object],
          snapshot: Callable[[], dict[str, Any]]) -> int:
    """Call ``draw`` (a terminal: after clearing it) or print ``snapshot()``
    as one JSON line (a pipe), every ``args.watch`` seconds."""
    import datetime
    import json
    import time

    from ..app import UsageError

    if args.watch <= 0 or (args.ticks is not None and args.ticks < 1):
        raise UsageError("--watch needs SECONDS > 0 and --ticks N >= 1")
    tick = 0
    while args.ticks is None or tick < args.ticks:
        if tick:
            time.sleep(args.watch)
        tick += 1
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        if env.stdout_isatty:
            env.stdout.write("\x1b[H\x1b[2J")
            env.out(f"every {args.watch:g} s: {now}  (Ctrl-C ends)")
            draw()
        else:
            env.out(json.dumps({"time": now, **snapshot()}))
    return ExitStatus.SUCCESS


def live_record(kind: Any, stat: Any) -> dict[str, Any]:
    """The object's record, and for a semaphore set the processes waiting
    on each semaphore (ncount: for an increase, zcount: for zero)."""
    from ... import SemaphoreSet
    from ..sysv import record

    out = record(kind, stat)
    if kind.name == "sem":
        try:
            sems = SemaphoreSet.from_id(stat.id)
            out["ncount"] = [sems[i].ncount for i in range(len(sems))]
            out["zcount"] = [sems[i].zcount for i in range(len(sems))]
        except OSError:
            out["ncount"] = out["zcount"] = None
    return out


def group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _view_columns(view: str, kind: str) -> list[tuple[str, Callable[[Any], Any]]] | None:
    """The columns after key/id/owner/perms for -t/-p/-c (None: the kind is
    not shown in this view, as ipcs -p shows no semaphore sets)."""
    from ..sysv import owner_name, short_time

    if view == "time":
        return {"msg": [("send", lambda s: short_time(s.send_time)),
                        ("recv", lambda s: short_time(s.receive_time)),
                        ("change", lambda s: short_time(s.change_time))],
                "shm": [("attached", lambda s: short_time(s.attach_time)),
                        ("detached", lambda s: short_time(s.detach_time)),
                        ("changed", lambda s: short_time(s.change_time))],
                "sem": [("last-op", lambda s: short_time(s.op_time)),
                        ("last-changed", lambda s: short_time(s.change_time))]}[kind]
    if view == "pid":
        return {"msg": [("lspid", lambda s: s.last_send_pid),
                        ("lrpid", lambda s: s.last_receive_pid)],
                "shm": [("cpid", lambda s: s.creator_pid), ("lpid", lambda s: s.last_pid)],
                "sem": None}[kind]
    return [("cuid", lambda s: owner_name(s.perm.cuid)), ("cgid", lambda s: group_name(s.perm.cgid)),
            ("uid", lambda s: owner_name(s.perm.uid)), ("gid", lambda s: group_name(s.perm.gid))]


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError

    if args.posix:
        return _posix(args, env)
    if args.global_view:
        return _global(args, env)
    if args.output or args.noheadings or args.raw or args.export or args.time_format \
            or args.bytes or args.numeric_perms or args.newline or args.shell \
            or args.notruncate or args.id is not None:
        return _lsipc(args, env)
    if args.watch is not None:
        if args.view in ("limits", "summary") or args.json:
            raise UsageError("--watch goes with the object views (and is JSON to a pipe)")
        return watch(args, env, lambda: _objects(args, env),
                     lambda: {kind.name: [live_record(kind, s) for s in stats]
                              for kind, stats in _listings(args)})
    if args.view == "limits":
        return _limits(args, env)
    if args.view == "summary":
        return _summary(args, env)
    return _objects(args, env)


def _listings(args: argparse.Namespace) -> list[tuple[Any, list[Any]]]:
    from ..sysv import kinds

    uid = os.getuid()
    listings = []
    for kind in kinds(args.kinds):
        stats = sorted(kind.listing(), key=lambda s: s.id)
        if args.mine:
            stats = [s for s in stats if s.perm.uid == uid]
        listings.append((kind, stats))
    return listings


def _objects(args: argparse.Namespace, env: Environment) -> int:
    from ..output import print_json, print_table
    from ..sysv import COMMON_HEADERS, common_row, record

    listings = _listings(args)
    if args.json:
        print_json(env, {kind.name: [record(kind, s) for s in stats] for kind, stats in listings})
        return ExitStatus.SUCCESS
    shown = 0
    for kind, stats in listings:
        columns = kind.columns if args.view is None else _view_columns(args.view, kind.name)
        if columns is None:
            continue
        if args.human:
            from ..columns import human_size

            columns = [(h, (lambda g: lambda s: human_size(g(s)))(g) if h in (
                "bytes", "max-bytes") else g) for h, g in columns]
        if shown:
            env.out()
        shown += 1
        headers = COMMON_HEADERS + [h for h, _ in columns]
        rows = [common_row(s) + [get(s) for _, get in columns] for s in stats]
        print_table(env, headers, rows, title=kind.title)
        if not rows:
            env.out(f"(no {kind.noun}s)")
    return ExitStatus.SUCCESS


def limits() -> dict[str, dict[str, int]]:
    """What ipcs -l shows, in bytes and counts, from the library's limits
    functions (and /proc/sys/kernel/sem for the system-wide semaphore count,
    which the library's SemaphoreLimits does not carry)."""
    from ... import msg_limits, semaphore_limits, shared_memory_limits

    m, s, h = msg_limits(), semaphore_limits(), shared_memory_limits()
    page = os.sysconf("SC_PAGESIZE")
    out = {"msg": {"max_queues": m.max_queues, "max_message_size": m.max_message_size,
                   "default_max_bytes": m.default_max_bytes},
           "shm": {"max_segments": h.max_segments, "max_size": h.max_size,
                   "max_total_bytes": h.max_total_pages * page, "min_size": h.min_size},
           "sem": {"max_sets": s.max_sets, "max_per_set": s.max_per_set,
                   "max_ops_per_call": s.max_ops_per_call, "max_value": s.max_value}}
    try:
        with open("/proc/sys/kernel/sem") as f:
            semmns = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return out
    sem = out["sem"]
    out["sem"] = {"max_sets": sem["max_sets"], "max_per_set": sem["max_per_set"],
                  "max_system_wide": semmns, "max_ops_per_call": sem["max_ops_per_call"],
                  "max_value": sem["max_value"]}
    return out


_LIMIT_LABELS = {
    "max_queues": "max queues system wide", "max_message_size": "max size of message (bytes)",
    "default_max_bytes": "default max size of queue (bytes)",
    "max_segments": "max number of segments", "max_size": "max segment size (bytes)",
    "max_total_bytes": "max total shared memory (bytes)", "min_size": "min segment size (bytes)",
    "max_sets": "max number of arrays", "max_per_set": "max semaphores per array",
    "max_system_wide": "max semaphores system wide", "max_ops_per_call": "max ops per semop call",
    "max_value": "semaphore max value"}

_TITLES = {"msg": "Messages limits", "shm": "Shared memory limits", "sem": "Semaphore limits",
           "msg-u": "Messages status", "shm-u": "Shared memory status",
           "sem-u": "Semaphore status"}


def _print_sections(env: Environment, data: dict[str, dict[str, int]], suffix: str,
                    labels: dict[str, str]) -> None:
    for number, (name, values) in enumerate(data.items()):
        if number:
            env.out()
        env.out(env.bold(_TITLES[name + suffix]))
        width = max(len(labels[k]) for k in values)
        for k, v in values.items():
            env.out(f"{labels[k]:<{width}}  {v}")


def _limits(args: argparse.Namespace, env: Environment) -> int:
    from ..output import print_json

    data = limits()
    chosen = {n: v for n, v in data.items() if not args.kinds or n in args.kinds}
    if args.json:
        print_json(env, chosen)
    else:
        _print_sections(env, chosen, "", _LIMIT_LABELS)
    return ExitStatus.SUCCESS


def summary(selected: list[str] | None = None) -> dict[str, dict[str, int]]:
    """What ipcs -u shows, from the library's usage functions (msgctl
    MSG_INFO, shmctl SHM_INFO, semctl SEM_INFO), with the limits each count
    is held against: objects, messages and bytes queued, segment pages
    (allocated, resident, swapped), semaphores."""
    from ... import msg_usage, semaphore_usage, shared_memory_segments, shared_memory_usage

    lim = limits()
    page = os.sysconf("SC_PAGESIZE")
    out: dict[str, dict[str, int]] = {}
    if not selected or "msg" in selected:
        m = msg_usage()
        out["msg"] = {"queues": m.queues, "max_queues": lim["msg"]["max_queues"],
                      "messages": m.messages, "bytes": m.bytes}
    if not selected or "shm" in selected:
        h = shared_memory_usage()
        out["shm"] = {"segments": h.segments, "max_segments": lim["shm"]["max_segments"],
                      "bytes": sum(s.size for s in shared_memory_segments()),
                      "pages": h.pages, "max_total_pages": lim["shm"]["max_total_bytes"] // page,
                      "resident_pages": h.resident_pages, "swapped_pages": h.swapped_pages}
    if not selected or "sem" in selected:
        s = semaphore_usage()
        out["sem"] = {"sets": s.sets, "max_sets": lim["sem"]["max_sets"],
                      "semaphores": s.semaphores}
        if "max_system_wide" in lim["sem"]:
            out["sem"]["max_semaphores"] = lim["sem"]["max_system_wide"]
    return out


_SUMMARY_LABELS = {"queues": "allocated queues", "messages": "messages queued (used headers)",
                   "bytes": "bytes in use", "segments": "segments allocated",
                   "pages": "pages allocated", "resident_pages": "pages resident",
                   "swapped_pages": "pages swapped", "sets": "used arrays",
                   "semaphores": "allocated semaphores"}
#: The limit each count is shown against ("1 of 4096 (0.02%)").
_SUMMARY_LIMITS = {"queues": "max_queues", "segments": "max_segments",
                   "pages": "max_total_pages", "sets": "max_sets",
                   "semaphores": "max_semaphores"}


def _summary(args: argparse.Namespace, env: Environment) -> int:
    from ..output import print_json

    data = summary(args.kinds)
    if args.json:
        print_json(env, data)
        return ExitStatus.SUCCESS
    for number, (name, values) in enumerate(data.items()):
        if number:
            env.out()
        env.out(env.bold(_TITLES[name + "-u"]))
        shown = [k for k in values if k in _SUMMARY_LABELS]
        width = max(len(_SUMMARY_LABELS[k]) for k in shown)
        for k in shown:
            text = f"{_SUMMARY_LABELS[k]:<{width}}  {values[k]}"
            limit = values.get(_SUMMARY_LIMITS.get(k, ""))
            if limit:
                text += f" of {limit} ({values[k] / limit * 100:.2f}%)"
            env.out(text)
    return ExitStatus.SUCCESS


def _lsipc(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError
    from ..columns import ALL, DEFAULTS, Style, cells, parse_columns, pretty, render
    from ..columns import semaphore_elements
    from ..sysv import NotFoundError, kinds

    if args.view is not None or args.json:
        raise UsageError("-o, --raw, --export, --newline, --noheadings, --bytes, -P, -y, -i "
                         "and --time-format go with the default view, not -t/-p/-c/-l/-u "
                         "or --json")
    if not args.kinds or len(set(args.kinds)) != 1:
        raise UsageError("lsipc's columns are for one kind: add -q, -s or -m")
    (kind,) = kinds(args.kinds)
    mode = ("newline" if args.newline else "export" if args.export else "raw" if args.raw
            else "table")
    one = args.id is not None and mode == "table"  # lsipc --id's long form
    try:
        names = parse_columns(args.output or (",".join(ALL[kind.name]) if one
                                              else DEFAULTS[kind.name]), kind.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # lsipc --id writes times in full unless told otherwise.
    style = Style(in_bytes=args.bytes, numeric_perms=args.numeric_perms,
                  time_format=args.time_format or ("full" if one else "short"))
    uid = os.getuid()
    stats = sorted(kind.listing(), key=lambda s: s.id)
    if args.mine:
        stats = [s for s in stats if s.perm.uid == uid]
    if args.id is not None:
        stats = [s for s in stats if s.id == args.id]
        if not stats:
            raise NotFoundError(errno.EINVAL, f"{kind.noun} {args.id} not found")
    rows = [cells(s, kind.name, names, style) for s in stats]
    if one:
        lines = pretty(names, rows[0])
        if kind.name == "sem":
            lines += semaphore_elements(stats[0].id) or []
    else:
        lines = render(names, rows, mode=mode, headings=not args.noheadings, shell=args.shell)
    for line in lines:
        env.out(line)
    return ExitStatus.SUCCESS


#: lsipc -g's rows: (RESOURCE, DESCRIPTION, kind, limit key, usage key or
#: None, whether the limit is a size in bytes).
_GLOBAL_ROWS = [
    ("MSGMNI", "Number of message queues", "msg", "max_queues", "queues", False),
    ("MSGMAX", "Max size of message (bytes)", "msg", "max_message_size", None, True),
    ("MSGMNB", "Default max size of queue (bytes)", "msg", "default_max_bytes", None, True),
    ("SHMMNI", "Shared memory segments", "shm", "max_segments", "segments", False),
    ("SHMALL", "Shared memory pages", "shm", "max_total_pages", "pages", False),
    ("SHMMAX", "Max size of shared memory segment (bytes)", "shm", "max_size", None, True),
    ("SHMMIN", "Min size of shared memory segment (bytes)", "shm", "min_size", None, True),
    ("SEMMNI", "Number of semaphore identifiers", "sem", "max_sets", "sets", False),
    ("SEMMNS", "Total number of semaphores", "sem", "max_system_wide", "semaphores", False),
    ("SEMMSL", "Max semaphores per semaphore set.", "sem", "max_per_set", None, False),
    ("SEMOPM", "Max number of operations per semop(2)", "sem", "max_ops_per_call", None,
     False),
    ("SEMVMX", "Semaphore max value", "sem", "max_value", None, False),
]
_GLOBAL_COLUMNS = ["RESOURCE", "DESCRIPTION", "LIMIT", "USED", "USE%"]


def global_usage(selected: list[str] | None = None) -> list[dict[str, Any]]:
    """lsipc -g's rows as records: each limit and, where the kernel counts
    it, what is in use (the library's limits and *_usage functions)."""
    lim, used = limits(), summary(selected)
    lim["shm"]["max_total_pages"] = lim["shm"]["max_total_bytes"] // os.sysconf("SC_PAGESIZE")
    out = []
    for resource, description, kind, limit_key, used_key, is_size in _GLOBAL_ROWS:
        if selected and kind not in selected or limit_key not in lim[kind]:
            continue
        limit = lim[kind][limit_key]
        count = None if used_key is None else used[kind][used_key]
        out.append({"resource": resource, "description": description, "kind": kind,
                    "limit": limit, "used": count, "size": is_size,
                    "use_percent": None if count is None or not limit
                    else count / limit * 100})
    return out


def _global(args: argparse.Namespace, env: Environment) -> int:
    """ls -g: lsipc -g's table (with -r, -e, -n, -y, -b, --noheadings, -o)."""
    from ..app import UsageError
    from ..columns import Style, render
    from ..output import print_json

    if args.view is not None or args.id is not None or args.time_format or args.numeric_perms:
        raise UsageError("-g goes with -q/-s/-m, -o, -r, -e, -n, -y, -b, --noheadings and "
                         "--json, not -t/-p/-c/-l/-u, -i, -P or --time-format")
    records = global_usage(args.kinds)
    if args.json:
        print_json(env, [{k: v for k, v in r.items() if k != "size"} for r in records])
        return ExitStatus.SUCCESS
    names = _GLOBAL_COLUMNS
    if args.output:
        extra = args.output.startswith("+")
        names = [n.strip().upper() for n in args.output.lstrip("+").split(",") if n.strip()]
        names = (_GLOBAL_COLUMNS + names) if extra else names
        unknown = [n for n in names if n not in _GLOBAL_COLUMNS]
        if unknown:
            raise UsageError(f"unknown column for -g: {unknown[0]!r} "
                             f"(known: {', '.join(_GLOBAL_COLUMNS)})")
    style = Style(in_bytes=args.bytes)

    def cell(r: dict[str, Any], name: str) -> str:
        if name == "RESOURCE":
            return str(r["resource"])
        if name == "DESCRIPTION":
            return str(r["description"])
        if name == "LIMIT":
            return style.size(r["limit"]) if r["size"] else str(r["limit"])
        if name == "USED":
            return "-" if r["used"] is None else str(r["used"])
        return "-" if r["use_percent"] is None else f"{r['use_percent']:.2f}%"

    rows = [[cell(r, n) for n in names] for r in records]
    mode = ("newline" if args.newline else "export" if args.export else "raw" if args.raw
            else "table")
    for line in render(names, rows, mode=mode, headings=not args.noheadings, shell=args.shell,
                       right=frozenset({"LIMIT", "USED", "USE%"}), sep=" "):
        env.out(line)
    return ExitStatus.SUCCESS


def _posix(args: argparse.Namespace, env: Environment) -> int:
    """ls --posix: the three POSIX sections (JSON: {"mq": [...], "sem":
    [...], "shm": [...]}, "mq" null when no mqueue filesystem is mounted)."""
    from ..app import UsageError
    from ..output import print_json, print_table
    from ..posixipc import COLUMNS, COMMON_HEADERS, KINDS, TITLES, listing

    if (args.kinds or args.view or args.watch is not None or args.human or args.output
            or args.noheadings or args.raw or args.export or args.time_format or args.bytes
            or args.numeric_perms):
        raise UsageError("--posix goes with --json and --mine only")
    uid = os.getuid()
    found: dict[str, list[dict[str, Any]] | None] = {}
    for kind in KINDS:
        try:
            records = listing(kind)
        except FileNotFoundError as exc:  # no mqueue filesystem mounted
            env.err(f"unixipc ls: warning: {exc.strerror}")
            found[kind] = None
            continue
        found[kind] = [r for r in records if r["uid"] == uid] if args.mine else records
    if args.json:
        print_json(env, found)
        return ExitStatus.SUCCESS
    for number, kind in enumerate(KINDS):
        if number:
            env.out()
        shown = found[kind]
        if shown is None:
            env.out(env.bold(TITLES[kind]))
            env.out("(not listed: no mqueue filesystem is mounted)")
            continue
        headers = COMMON_HEADERS + [h for h, _ in COLUMNS[kind]]
        rows = [[r["name"], r["owner"], r["perms"]]
                + ["?" if r[f] is None else r[f] for _, f in COLUMNS[kind]] for r in shown]
        print_table(env, headers, rows, title=TITLES[kind])
        if not rows:
            env.out(f"(no {TITLES[kind]})")
    return ExitStatus.SUCCESS
