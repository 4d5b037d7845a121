"""unixipc tour: every mechanism at work between real processes."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "see every IPC mechanism at work between real processes (under 10 s)"
DESCRIPTION = """\
Demonstrate each mechanism between real processes and print, for each, what
was done and the kernel rule it shows. Everything the tour creates (System V
objects, FIFOs, temporary files, child processes) is removed at the end, also
when interrupted with Ctrl-C. The exit status is non-zero if any rule did not
hold on this machine."""
EPILOG = """\
examples:
  unixipc tour                  the whole tour
  unixipc tour --only msg        one mechanism (repeatable)
  unixipc tour --list           the mechanisms, in tour order
  unixipc tour --json | jq '.steps[] | select(.ok | not)'"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..tour_steps import STEPS

    parser.add_argument("--only", action="append", metavar="MECHANISM",
                        choices=[s.name for s in STEPS],
                        help="run only this mechanism's step (repeatable): "
                             + ", ".join(s.name for s in STEPS))
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document at the end: ok, seconds, and per step "
                             "its name, title, ok, what it did (said), its rules and error")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..tour_steps import STEPS, CheckFailed, TourContext

    steps = [s for s in STEPS if not args.only or s.name in args.only]
    if args.list:
        if args.json:
            env.out(json.dumps([{"name": s.name, "title": s.title} for s in steps]))
            return ExitStatus.SUCCESS
        for s in steps:
            env.out(f"{s.name:10} {s.title}")
        return ExitStatus.SUCCESS
    failed: list[str] = []
    records: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with TourContext(env) as ctx:
        for number, step in enumerate(steps, 1):
            error: str | None = None
            if args.json:
                ctx.said, ctx.rules = [], []
            else:
                env.out(env.bold(f"[{number}/{len(steps)}] {step.title}") + f"  ({step.name})")
            try:
                with ctx.step_scope():
                    step.run(ctx)
            except BrokenPipeError:
                if env.stdout_closed():
                    raise  # nobody reads the tour any more: stop, cleaning up
                error = "a broken pipe"
            except CheckFailed as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a step that broke fails; others run
                error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                failed.append(step.name)
            if args.json:
                records.append({"name": step.name, "title": step.title, "ok": error is None,
                                "said": ctx.said, "rules": ctx.rules, "error": error})
                continue
            env.out("  " + (env.color("ok", "32") if error is None
                            else env.color(f"FAILED: {error}", "31")))
            env.out()
    elapsed = time.monotonic() - t0
    if args.json:
        env.out(json.dumps({"ok": not failed, "seconds": round(elapsed, 3), "steps": records},
                           indent=2))
        return ExitStatus.CHECK_FAILED if failed else ExitStatus.SUCCESS
    if failed:
        env.out(env.color(f"{len(failed)} of {len(steps)} steps failed: {', '.join(failed)}"
                          f" ({elapsed:.1f} s)", "31"))
        return ExitStatus.CHECK_FAILED
    env.out(f"all {len(steps)} steps held ({elapsed:.1f} s); nothing left behind.")
    return ExitStatus.SUCCESS
