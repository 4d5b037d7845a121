"""unixipc rm: remove System V objects."""

from __future__ import annotations

import argparse
import errno
import os
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "remove System V objects by id, by key, or all of yours"
DESCRIPTION = """\
Remove message queues, semaphore sets and shared memory segments, as ipcrm
does, several kinds in one call: -q/-s/-m ID and -Q/-S/-M KEY (each
repeatable), or one kind flag with ids after it (rm -q 1 2 3) and --key;
-a/--all[=msg|sem|shm] removes every object (as root: everyone's; for
other users: their own). Key 0 (IPC_PRIVATE) is refused: it never finds an
object. Every target is tried; the exit status is 1 if any could not be
removed (not found, permission denied), each failure on one line. Only
ownership is needed, not read permission. --posix NAME (repeatable)
removes a POSIX message queue, named semaphore or shared memory segment
by name: the kind that has the name (--kind mq|sem|shm when several do;
without it such a name is refused and nothing is removed)."""
EPILOG = """\
examples:
  unixipc rm -q 32768 32769          two queues by id
  unixipc rm -q 1 -m 2 -s 3          a queue, a segment and a semaphore set
  unixipc rm -M 0x41000c02           the segment with this key
  unixipc rm -m --key 0x41000c02     the same
  unixipc rm --all=sem --dry-run     what removing all semaphore sets would do
  unixipc rm -a --json               remove everything, say what as JSON
  unixipc rm --posix /jobs           the POSIX queue, semaphore or segment /jobs
  unixipc rm --posix /x --kind shm   the segment /x (a semaphore /x stays)"""

_KIND_OPTIONS = (("msg", "-q", "--queue-id", "-Q", "--queue-key", "message queue"),
                 ("shm", "-m", "--shmem-id", "-M", "--shmem-key", "shared memory segment"),
                 ("sem", "-s", "--semaphore-id", "-S", "--semaphore-key", "semaphore set"))


class _KindId(argparse.Action):
    """-q [ID]: the kind is chosen; an ID given with it is a target."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        name = self.dest.removeprefix("kind_")
        namespace.kinds = (namespace.kinds or []) + [name]
        if values is not None:
            namespace.targets = (namespace.targets or []) + [(name, "id", values)]


class _KindKey(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        name = self.dest.removeprefix("key_")
        namespace.targets = (namespace.targets or []) + [(name, "key", values)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import parse_key

    parser.set_defaults(kinds=[], targets=[])
    for name, short, long, kshort, klong, what in _KIND_OPTIONS:
        parser.add_argument(short, long, action=_KindId, dest=f"kind_{name}", nargs="?",
                            type=int, default=argparse.SUPPRESS,
                            metavar="ID", help=f"remove the {what} with this id (repeatable); "
                                               "alone: the ids after it are of this kind")
        parser.add_argument(kshort, klong, action=_KindKey, dest=f"key_{name}", type=parse_key,
                            default=argparse.SUPPRESS,
                            metavar="KEY", help=f"remove the {what} with this key (repeatable)")
    from ..posixipc import id_or_name

    parser.add_argument("ids", nargs="*", type=id_or_name, metavar="ID|/NAME",
                        help="object ids, of the one kind flag given, or POSIX /names "
                             "(as --posix NAME)")
    parser.add_argument("--key", type=parse_key, action="append", default=[],
                        help="remove the object of the one kind given with this key "
                             "(repeatable)")
    parser.add_argument("-a", "--all", nargs="?", const="all", type=_all_kind,
                        metavar="msg|sem|shm",
                        help="every object (of this kind): as root everyone's, else yours")
    parser.add_argument("--all-mine", action="store_true",
                        help="every object of the chosen kinds owned by you")
    from ..posixipc import KINDS

    parser.add_argument("--posix", action="append", default=[], metavar="NAME",
                        help="remove the POSIX message queue, named semaphore or shared "
                             "memory segment with this name (repeatable)")
    parser.add_argument("--kind", choices=KINDS,
                        help="with --posix: only objects of this kind (when several kinds "
                             "have the name)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be removed")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: kind, id, key, what was done "
                             "(removed, would-remove, failed) and the error")


def run(args: argparse.Namespace, env: Environment) -> int:
    import json

    from ..app import UsageError
    from ..sysv import kind_named, kinds, open_by_id, open_by_key
    from ...keys import format_key

    args.posix += [i for i in args.ids if isinstance(i, str)]  # /names: as --posix NAME
    args.ids = [i for i in args.ids if not isinstance(i, str)]
    flag_kinds = [k for k in dict.fromkeys(args.kinds)]
    loose = bool(args.ids or args.key)
    if args.kind and not args.posix:
        raise UsageError("--kind goes with --posix NAME (System V: -q, -s or -m)")
    posix_targets = _posix_targets(args.posix, args.kind)
    if args.all or args.all_mine:
        if loose or args.targets or args.posix:
            raise UsageError("--all and --all-mine take no ids or keys")
        if args.all and args.all != "all" and flag_kinds:
            raise UsageError(f"--all={args.all} takes no -q, -s or -m")
    elif not loose and not args.targets and not args.posix:
        raise UsageError("name ids (-q ID, -s ID, -m ID), keys (-Q, -S, -M KEY), "
                         "POSIX names (--posix NAME), or --all")
    elif loose and len(flag_kinds) != 1:
        raise UsageError("ids and --key after one kind: -q, -s or -m (or -q ID -m ID ...)")

    # (kind, "id" or "key", value, description)
    targets: list[tuple[Any, str, int, str]] = []
    uid = os.getuid()
    if args.all or args.all_mine:
        chosen = ([args.all] if args.all not in (None, "all") else flag_kinds) or None
        everyone = bool(args.all) and uid == 0
        for kind in kinds(chosen):
            for stat in sorted(kind.listing(), key=lambda s: s.id):
                if everyone or stat.perm.uid == uid:
                    targets.append((kind, "id", stat.id, f"{kind.noun} {stat.id}"))
    else:
        pending = list(args.targets) + [(flag_kinds[0], "id", i) for i in args.ids] + [
            (flag_kinds[0], "key", k) for k in args.key] if loose else list(args.targets)
        for name, how, value in pending:
            kind = kind_named(name)
            targets.append((kind, how, value, f"{kind.noun} {value}" if how == "id"
                            else f"{kind.noun} with key {format_key(value)}"))
    failures = 0
    for kind, how, value, what in targets:
        report: dict[str, Any] = {"kind": kind.name, "target": what}
        try:
            obj = open_by_id(kind, value) if how == "id" else open_by_key(kind, value)
            report.update(id=obj.id, key=obj.key, key_hex=format_key(obj.key))
            if args.dry_run:
                report["action"] = "would-remove"
                if not args.json:
                    env.out(f"would remove {what}" + ("" if what.endswith(f" {obj.id}")
                                                        else f" (id {obj.id})"))
            else:
                obj.remove()
                report["action"] = "removed"
                if not args.json:
                    env.out(f"removed {what}")
        except OSError as exc:
            failures += 1
            reason = _reason(exc)
            report.update(action="failed", error=reason, errno=exc.errno)
            if not args.json:
                env.err(f"unixipc rm: {reason}" if reason.startswith(what)
                        else f"unixipc rm: cannot remove {what}: {reason}")
        if args.json:
            env.out(json.dumps(report))
    for name, found in posix_targets:
        failures += not _remove_posix(args, env, name, found)
    return ExitStatus.ERROR if failures else ExitStatus.SUCCESS


def _posix_targets(names: list[str], kind: str | None) -> list[tuple[str, Any]]:
    """(name, its record, or the NotFoundError) of each --posix NAME, all
    looked up before anything is removed: a name that several kinds have
    (without --kind) is a UsageError, and nothing is removed."""
    from ..app import UsageError
    from ..posixipc import AmbiguousName, find_one
    from ..sysv import NotFoundError

    out: list[tuple[str, Any]] = []
    for name in names:
        try:
            out.append((name, find_one(name, kind)))
        except AmbiguousName as exc:
            raise UsageError(str(exc)) from None
        except NotFoundError as exc:
            out.append((name, exc))
    return out


def _remove_posix(args: argparse.Namespace, env: Environment, name: str, found: Any) -> bool:
    """Remove (or with --dry-run, name) one POSIX object; False if it failed."""
    import json

    from ..posixipc import NOUNS, not_found, unlink
    from ..sysv import NotFoundError

    report: dict[str, Any] = {"family": "posix", "kind": args.kind, "name": name,
                              "target": f"{NOUNS[args.kind] if args.kind else 'POSIX object'} "
                                        f"{name}"}
    try:
        if isinstance(found, NotFoundError):
            raise found
        kind = found["kind"]
        what = f"{NOUNS[kind]} {name}"
        report.update(kind=kind, target=what)
        if args.dry_run:
            report["action"] = "would-remove"
            if not args.json:
                env.out(f"would remove {what}")
        else:
            try:
                unlink(kind, name)
            except FileNotFoundError as exc:  # removed since it was found
                raise not_found(kind, name, exc) from None
            report["action"] = "removed"
            if not args.json:
                env.out(f"removed {what}")
        ok = True
    except OSError as exc:
        ok = False
        if exc.errno in (errno.EPERM, errno.EACCES):
            reason = (f"permission denied: only its owner or root may remove it "
                      f"({exc.strerror})")
        else:
            reason = str(exc) if isinstance(exc, NotFoundError) else str(exc.strerror or exc)
        report.update(action="failed", error=reason, errno=exc.errno)
        if not args.json:
            what = report["target"]
            env.err(f"unixipc rm: {reason}" if reason.startswith(what)
                    else f"unixipc rm: cannot remove {what}: {reason}")
    if args.json:
        env.out(json.dumps(report))
    return ok


def _reason(exc: OSError) -> str:
    from ..sysv import NotFoundError

    if exc.errno in (errno.EPERM, errno.EACCES):
        return (f"permission denied: only its owner, its creator or root may remove it "
                f"({exc.strerror})")
    return str(exc) if isinstance(exc, NotFoundError) else str(exc.strerror or exc)


def _all_kind(text: str) -> str:
    if text not in ("msg", "sem", "shm", "all"):
        raise argparse.ArgumentTypeError(f"--all takes msg, sem or shm, not {text!r}")
    return text
