"""Command line of `kubectl jobwarden`: arguments, help and dispatch.

Only argparse is imported here; the API client and the commands are imported once
the arguments are understood, so `--help` and usage errors are instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobwarden.cli.commands import Context

PROG = "kubectl jobwarden"
DESCRIPTION = """\
Drive jobwarden from kubectl: see what runs and waits, inspect one run, cancel
safely, run a ScheduledJob now, pause and resume schedules, see when a job runs next,
re-run a run, read a job's history (CSV for spreadsheets), and see worker quotas.

It acts as your kubeconfig identity, like kubectl: what you may do is what RBAC and
jobwarden's admission webhook allow you."""

EPILOG = """\
examples:
  kubectl jobwarden active -A
  kubectl jobwarden status nightly-report-1735689600
  kubectl jobwarden cancel nightly-report-1735689600 --reason "wrong input file"
  kubectl jobwarden run nightly-report
  kubectl jobwarden next nightly-report --count 5
  kubectl jobwarden history nightly-report --status Failed --since 7d -o csv > failed.csv

Use "kubectl jobwarden <command> --help" for a command's options and examples.
Exit status: 0 success, 1 failure (any object not done, e.g. a denied cancel), 2 usage."""

SUSPEND_NOTES = {
    "pause": (
        "While paused no new runs start (running ones continue), nextScheduleTime is "
        "cleared, and history is kept."
    ),
    "resume": (
        "Fires missed while paused follow the job's missedRunPolicy. A job the operator "
        "paused after failed runs in a row (spec.pauseAfterConsecutiveFailures, "
        "status.failurePause) is resumed with the annotation jobwarden.dev/resume, not "
        "a spec change: GitOps tools see no drift."
    ),
}
OUTPUT_HELP = "output format: {choices}"


@dataclass(frozen=True)
class Extension:
    """A command another front end adds (the dashboard, joined by jobwarden.plugin):
    its help texts, its own options, and what runs it with the plugin's context
    (kubeconfig identity, namespace, -A, output streams)."""

    name: str
    summary: str
    examples: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context, argparse.Namespace], int]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def _connection_options() -> argparse.ArgumentParser:
    """-n, --context, --kubeconfig, --request-timeout: accepted before or after the
    command (SUPPRESS keeps a sub-command from resetting a value given before it)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("kubectl options")
    group.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help="namespace (default: the kubeconfig context's, else default)",
    )
    group.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context to use")
    group.add_argument(
        "--kubeconfig",
        default=argparse.SUPPRESS,
        help="path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )
    group.add_argument(
        "--request-timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="give up on one API request after this long (default 30)",
    )
    return parent


def _all_namespaces(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help=f"{what} in every namespace you can list",
    )


def _output(parser: argparse.ArgumentParser, *choices: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=choices,
        metavar="FORMAT",
        help=OUTPUT_HELP.format(choices="|".join(choices)),
    )


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        nargs="?",
        const="client",
        default="none",
        choices=("none", "client", "server"),
        help=(
            "only show what would be done: client (the default when given alone) "
            "changes nothing; server sends the request with dryRun=All, so RBAC and "
            "the admission webhook answer, but nothing is stored"
        ),
    )


def build_parser(
    extensions: Sequence[Extension] = (),
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The whole command line, and the parser of each command (with `extensions`)."""
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
        parents=[common],
    )
    parser.add_argument("--version", action="store_true", help="print the plugin's version")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    subs: dict[str, argparse.ArgumentParser] = {}

    def command(
        name: str, summary: str, examples: str, description: str = ""
    ) -> argparse.ArgumentParser:
        subs[name] = commands.add_parser(
            name,
            help=summary,
            description=(description or summary),
            epilog="examples:\n" + examples,
            formatter_class=_Formatter,
            parents=[common],
        )
        return subs[name]

    # ------------------------------------------------------------------ active
    active = command(
        "active",
        "list running and queued runs and exports",
        """\
  kubectl jobwarden active                   # in the current namespace
  kubectl jobwarden active -A -o wide        # everywhere, with priority, attempt, creator
  kubectl jobwarden active --mine            # only what you created
  kubectl jobwarden active -o name | xargs kubectl jobwarden cancel -y
""",
        """\
List the unfinished JobRuns and Exports (New, Queued, Starting, Running, Retrying,
Cancelling): kind, name, phase (a Starting run with what it waits for, e.g.
`Starting (Unschedulable)`), progress, elapsed time (since admission, or since creation while
queued), whether it is stuck (condition Stuck: no progress report for too long), its
place in the queue, and whether you may cancel it (yes / no / requested), which the
API server answers: RBAC patch, and being the creator or holding the verb cancel.""",
    )
    _all_namespaces(active, "list")
    active.add_argument(
        "-k", "--kind", action="append", metavar="KIND", help="jobrun or export (default: both)"
    )
    active.add_argument("-l", "--selector", help="label selector, e.g. team=data")
    active.add_argument("--mine", action="store_true", help="only runs you created")
    _output(active, "wide", "json", "yaml", "name")

    # ------------------------------------------------------------------ status
    status = command(
        "status",
        "show one run or export in detail",
        """\
  kubectl jobwarden status nightly-report-1735689600
  kubectl jobwarden status export/orders-2025-q1
  kubectl jobwarden status orders-2025-q1 -k export --events 30
  kubectl jobwarden status nightly-report-1735689600 -o yaml
""",
        """\
Phase and why, queue position, attempts (pod, exit code, reason), progress,
cancellation (who, when, reason, grace period, outcome), the execution log and the
latest Events. A bare NAME is looked up as a JobRun, then as an Export.""",
    )
    status.add_argument("name", metavar="NAME", help="NAME, or KIND/NAME (jobrun/x, export/y)")
    status.add_argument("-k", "--kind", metavar="KIND", help="jobrun or export")
    status.add_argument(
        "--events", type=int, default=10, metavar="N", help="how many recent Events (default 10)"
    )
    _output(status, "json", "yaml")

    # ------------------------------------------------------------------ cancel
    cancel = command(
        "cancel",
        "cancel runs, exports or scheduled jobs",
        """\
  kubectl jobwarden cancel nightly-report-1735689600
  kubectl jobwarden cancel export/orders-2025-q1 --reason "wrong quarter"
  kubectl jobwarden cancel -l team=data -y
  kubectl jobwarden cancel --all --mine -y            # everything you started here
  kubectl jobwarden cancel --all -A --dry-run         # what would be cancelled
  kubectl jobwarden cancel -k scheduledjob nightly-report   # ends its schedule too
""",
        """\
Set spec.cancel: true (and the annotation jobwarden.dev/cancel-reason with --reason).
A queued or retrying run is cancelled at once; a running worker gets SIGTERM and its
grace period. A cancel is final. Each object's result is reported; denials by RBAC or
the admission webhook are shown with their message and make the exit status 1.

On a terminal you are asked to confirm. Without a terminal nothing is asked, and
-l / --all need -y. A bare NAME is a JobRun, then an Export; a ScheduledJob only with
-k scheduledjob or scheduledjob/NAME (it ends the schedule and cancels its runs); a
Backfill with -k backfill or backfill/NAME (no more runs; its active ones cancelled).""",
    )
    cancel.add_argument("names", nargs="*", metavar="NAME", help="NAME or KIND/NAME")
    cancel.add_argument(
        "-k", "--kind", metavar="KIND", help="jobrun, export, scheduledjob or backfill"
    )
    cancel.add_argument(
        "-l", "--selector", help="cancel the unfinished runs matching this label selector"
    )
    cancel.add_argument("--all", action="store_true", help="cancel every unfinished run and export")
    cancel.add_argument("--mine", action="store_true", help="only what you created")
    _all_namespaces(cancel, "with -l or --all: select")
    cancel.add_argument(
        "--reason", metavar="TEXT", help="why (recorded in status.cancellation.reason)"
    )
    cancel.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _dry_run(cancel)
    _output(cancel, "name", "json", "yaml")

    # --------------------------------------------------------------------- run
    run = command(
        "run",
        "run a ScheduledJob now",
        """\
  kubectl jobwarden run nightly-report
  kubectl jobwarden run nightly-report --priority High -o name
""",
        """\
Create a JobRun of the ScheduledJob (scheduledJobRef, trigger Manual) named
<job>-manual-<random>. It takes the job's template and settings when it starts and
queues under the namespace's WorkerQuota like any run. Running a job marked
sensitive needs the RBAC verb execute-sensitive on it.""",
    )
    run.add_argument("scheduled_job", metavar="SCHEDULEDJOB")
    run.add_argument(
        "--priority", choices=("High", "Medium", "Low"), help="override the job's priority"
    )
    _dry_run(run)
    _output(run, "name", "json", "yaml")

    # ------------------------------------------------------------ pause/resume
    for verb, summary, value in (
        ("pause", "pause ScheduledJobs (spec.suspend: true)", "true"),
        ("resume", "resume paused ScheduledJobs (spec.suspend: false)", "false"),
    ):
        sub = command(
            verb,
            summary,
            f"""\
  kubectl jobwarden {verb} nightly-report
  kubectl jobwarden {verb} nightly-report weekly-cleanup
  kubectl jobwarden {verb} -l team=data
""",
            f"Set spec.suspend: {value}. " + SUSPEND_NOTES[verb],
        )
        sub.add_argument("names", nargs="*", metavar="SCHEDULEDJOB")
        sub.add_argument("-l", "--selector", help="all ScheduledJobs matching this label selector")
        _dry_run(sub)
        _output(sub, "name")

    # ------------------------------------------------------------------- retry
    retry = command(
        "retry",
        "run a finished run again",
        """\
  kubectl jobwarden retry nightly-report-1735689600
  kubectl jobwarden retry export/orders-2025-q1
""",
        """\
Create a new JobRun with the same scheduledJobRef or template and run settings,
trigger Rerun and rerunOf: RUN, named <job or run>-rerun-<random>. For an Export, a
new Export with the same spec. Only finished runs are retried.""",
    )
    retry.add_argument("name", metavar="RUN", help="RUN, or KIND/NAME (jobrun/x, export/y)")
    retry.add_argument("-k", "--kind", metavar="KIND", help="jobrun (default) or export")
    _dry_run(retry)
    _output(retry, "name", "json", "yaml")

    # -------------------------------------------------------------------- next
    upcoming = command(
        "next",
        "show the next fires of a ScheduledJob",
        """\
  kubectl jobwarden next nightly-report
  kubectl jobwarden next nightly-report --count 30
  kubectl jobwarden next nightly-report -o json | jq '.[] | select(.dst)'
""",
        """\
The job's next fires, computed by the operator's own cron reading: on the job's own
clock (spec.timeZone) and in UTC, with `H` fields hashed from namespace/name and, with
spec.jitterSeconds, when each run starts (STARTS, DELAY). Fires that a DST change moves
are marked: a wall time skipped by the clock going forward fires once at the end of
the gap; one repeated by the clock going back fires once, at the first (a schedule
whose hour field covers every hour fires in both passes).""",
    )
    upcoming.add_argument("scheduled_job", metavar="SCHEDULEDJOB")
    upcoming.add_argument(
        "--count", type=int, default=10, metavar="N", help="how many fires (default 10)"
    )
    _output(upcoming, "json", "yaml")

    # ---------------------------------------------------------------- backfill
    fill = command(
        "backfill",
        "run a ScheduledJob's fires of a past time range",
        """\
  kubectl jobwarden backfill nightly-report --from 2026-03-01 --to 2026-03-07 --dry-run
  kubectl jobwarden backfill nightly-report --from 7d --to 1d --max-concurrent 3
  kubectl jobwarden backfill nightly-report --from 2026-03-01T00:00Z --to 2026-03-02T00:00Z -o name
  kubectl jobwarden cancel -k backfill nightly-report-backfill-x7k2p
""",
        """\
Create a Backfill: the operator creates the runs of every fire of the job in the range,
oldest first, at most --max-concurrent at once (default 1), each queued under the
namespace's WorkerQuota like any run. Runs are named after their fire, as the schedule
names them: a fire that already has a run is skipped and reported, so a backfill never
runs a fire twice. Progress is in the Backfill's status (kubectl get backfill);
cancelling it (kubectl jobwarden cancel -k backfill NAME) stops it and cancels the runs
it created.

WHEN is a date (midnight on the job's clock; for --to the whole day is included), a
date and time (RFC 3339; without an offset, on the job's clock) or a duration back from
now (7d, 12h). --dry-run (client) lists each fire and whether it would be run or
skipped; --dry-run=server also asks RBAC and the admission webhook.""",
    )
    fill.add_argument("scheduled_job", metavar="SCHEDULEDJOB")
    fill.add_argument("--from", dest="start", required=True, metavar="WHEN", help="range start")
    fill.add_argument("--to", dest="end", required=True, metavar="WHEN", help="range end")
    fill.add_argument(
        "--max-concurrent",
        type=int,
        metavar="N",
        help="most runs of this backfill at once (1-100, default 1)",
    )
    _dry_run(fill)
    _output(fill, "name", "json", "yaml")

    # ----------------------------------------------------------------- history
    history = command(
        "history",
        "list the runs of a ScheduledJob, newest first",
        """\
  kubectl jobwarden history nightly-report
  kubectl jobwarden history nightly-report --status Failed --since 7d
  kubectl jobwarden history nightly-report --since 2025-03-01 -o csv > runs.csv
  kubectl jobwarden history nightly-report -o json | jq '.[].durationSeconds'
""",
        """\
The job's JobRuns that still exist, merged with the summaries in status.history of
runs deleted by the history limits or retention (column SOURCE: JobRun or history).
CSV and JSON have the columns: name, namespace, scheduledJob, trigger, phase,
reason, scheduledTime, startTime, completionTime, durationSeconds, attempts,
exitCode, triggeredBy, cancelledBy, cancelReason, source (times in UTC, RFC 3339).""",
    )
    history.add_argument("scheduled_job", metavar="SCHEDULEDJOB")
    history.add_argument(
        "--status",
        action="append",
        metavar="PHASE",
        help="only runs in this phase: Succeeded, Failed, Cancelled, … (repeat or comma-separate)",
    )
    history.add_argument(
        "--since",
        metavar="WHEN",
        help="only runs started (or due) since: a duration back (7d, 12h, 1h30m) or a date",
    )
    history.add_argument("--limit", type=int, metavar="N", help="at most N runs (the newest)")
    _output(history, "wide", "csv", "json", "yaml", "name")

    # ------------------------------------------------------------------- quota
    quota = command(
        "quota",
        "show worker quotas and their use",
        """\
  kubectl jobwarden quota
  kubectl jobwarden quota -A
""",
        """\
Each WorkerQuota: the most workers that may run at once, how many run, and how many
runs wait, by priority. A namespace without a WorkerQuota uses the operator-wide
default (10 unless the operator is configured otherwise); it is shown as (default)
with its use counted from its runs.""",
    )
    _all_namespaces(quota, "show quotas")
    _output(quota, "json", "yaml")

    # ------------------------------------------- commands of other front ends
    for extension in extensions:
        sub = command(extension.name, extension.summary, extension.examples, extension.description)
        extension.add_arguments(sub)
    return parser, subs


def main(argv: Sequence[str] | None = None, extensions: Sequence[Extension] = ()) -> int:
    """Run one command (one of ours or of `extensions`); returns the exit status."""
    parser, subs = build_parser(extensions)
    args = parser.parse_args(argv)
    if args.version:
        from jobwarden import __version__  # noqa: PLC0415

        print(f"kubectl-jobwarden {__version__}")
        return 0
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    from jobwarden.cli import commands  # noqa: PLC0415 - heavy imports only now

    try:
        return commands.dispatch(args, {e.name: e.run for e in extensions})
    except commands.UsageError as error:
        subs[args.command].print_usage(sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a traceback at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
