"""unixipc tour: every mechanism at work between real processes."""

from __future__ import annotations

import argparse
import time

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
  unixipc tour --list           the mechanisms, in tour order"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..tour_steps import STEPS

    parser.add_argument("--only", action="append", metavar="MECHANISM",
                        choices=[s.name for s in STEPS],
                        help="run only this mechanism's step (repeatable): "
                             + ", ".join(s.name for s in STEPS))
    parser.add_argument("--list", action="store_true", help="list the steps and exit")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..tour_steps import STEPS, CheckFailed, TourContext

    steps = [s for s in STEPS if not args.only or s.name in args.only]
    if args.list:
        for s in steps:
            env.out(f"{s.name:10} {s.title}")
        return ExitStatus.SUCCESS
    failed: list[str] = []
    t0 = time.monotonic()
    with TourContext(env) as ctx:
        for number, step in enumerate(steps, 1):
            env.out(env.bold(f"[{number}/{len(steps)}] {step.title}") + f"  ({step.name})")
            try:
                with ctx.step_scope():
                    step.run(ctx)
            except BrokenPipeError:
                if env.stdout_closed():
                    raise  # nobody reads the tour any more: stop, cleaning up
                failed.append(step.name)
                env.out("  " + env.color("FAILED: a broken pipe", "31"))
            except CheckFailed as exc:
                failed.append(step.name)
                env.out("  " + env.color(f"FAILED: {exc}", "31"))
            except Exception as exc:  # noqa: BLE001 - a step that broke fails; others run
                failed.append(step.name)
                env.out("  " + env.color(f"FAILED: {type(exc).__name__}: {exc}", "31"))
            else:
                env.out("  " + env.color("ok", "32"))
            env.out()
    elapsed = time.monotonic() - t0
    if failed:
        env.out(env.color(f"{len(failed)} of {len(steps)} steps failed: {', '.join(failed)}"
                          f" ({elapsed:.1f} s)", "31"))
        return ExitStatus.CHECK_FAILED
    env.out(f"all {len(steps)} steps held ({elapsed:.1f} s); nothing left behind.")
    return ExitStatus.SUCCESS
