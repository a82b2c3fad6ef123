"""The commands of `kubectl jobwarden`: fetch, act, print.

Each command returns its exit status: 0 done, 1 something was not (an API error, a
denied cancel), 2 a usage error (raised as UsageError for the caller to print).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from jobwarden.api import constants as c
from jobwarden.cli import views
from jobwarden.client import actions, history
from jobwarden.client.access import Access, cancel_right, cancel_rights, whoami
from jobwarden.client.actions import Outcome, Result
from jobwarden.client.kube import JSON, Kube, KubeError, resource_path
from jobwarden.client.kubeconfig import ConfigError
from jobwarden.client.objects import (
    PLURALS,
    RUN_KINDS,
    UnknownKindError,
    kind_of,
    last_events,
    name_of,
    namespace_of,
    owner_candidates,
    phase_of,
    scheduled_job_of,
    spec_of,
    split_ref,
    time_zone_of,
)
from jobwarden.client.quota import quota_records
from jobwarden.client.schedule import (
    MAX_PREVIEW,
    InvalidScheduleError,
    backfill_fires,
    job_schedule,
    preview,
)
from jobwarden.client.stats import active_totals
from jobwarden.client.text import (
    UsageError,
    format_timestamp,
    kubectl_list,
    parse_since,
    parse_when,
    table,
    to_csv,
    to_json,
    to_yaml,
)

__all__ = ["UsageError", "dispatch"]

_Obj = TypeVar("_Obj", bound=Mapping[str, Any])
CONFIRM_WARNING = "This action cannot be undone."
MAX_CONCURRENT = c.MAX_BACKFILL_CONCURRENT_RUNS


@dataclass
class Context:
    """What every command works with."""

    kube: Kube
    namespace: str
    all_namespaces: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    now: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))

    @property
    def scope(self) -> str | None:
        """The namespace to list in, or None for all namespaces."""
        return None if self.all_namespaces else self.namespace

    def where(self) -> str:
        """`in namespace "x"` or `in any namespace`, for messages."""
        return "in any namespace" if self.all_namespaces else f'in namespace "{self.namespace}"'

    def print(self, text: str = "") -> None:
        """A line (or block) on stdout."""
        self.flush_warnings()
        self.out.write(text if text.endswith("\n") else text + "\n")

    def error(self, text: str) -> None:
        """A line on stderr."""
        self.flush_warnings()
        self.err.write(text.rstrip("\n") + "\n")

    def flush_warnings(self) -> None:
        """Print the API server's warnings, as kubectl does."""
        for warning in self.kube.warnings:
            self.err.write(f"Warning: {warning}\n")
        self.kube.warnings.clear()


Command = Callable[["Context", argparse.Namespace], int]


def dispatch(args: argparse.Namespace, extensions: Mapping[str, Command] | None = None) -> int:
    """Connect as the kubeconfig says and run `args.command` (ours, or one of the
    `extensions` other front ends add)."""
    try:
        kube = Kube(
            getattr(args, "kubeconfig", None),
            getattr(args, "context", None),
            timeout=getattr(args, "request_timeout", None) or 30,
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    ctx = Context(
        kube,
        getattr(args, "namespace", None) or kube.default_namespace,
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
    )
    try:
        return {**COMMANDS, **(extensions or {})}[args.command](ctx, args)
    except UnknownKindError as error:
        raise UsageError(str(error)) from None
    except KubeError as error:
        ctx.error(error.describe())
        return 1


# ----------------------------------------------------------------------- helpers
def _ref(kind: str, name: str) -> str:
    """`jobrun.jobwarden.dev/x`, as `kubectl get -o name` prints it."""
    return f"{kind.lower()}.{c.GROUP}/{name}"


def _kinds(values: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for value in values or ():
        for part in value.split(","):
            if part.strip():
                kind = kind_of(part, allowed)
                if kind not in chosen:
                    chosen.append(kind)
    return chosen or list(allowed)


def _list(ctx: Context, kind: str, selector: str | None = None) -> list[JSON]:
    query = {"labelSelector": selector} if selector else {}
    items = ctx.kube.list_items(resource_path(PLURALS[kind], ctx.scope), **query)
    for item in items:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", c.API_VERSION)
    return items


def _jobs_for(ctx: Context, objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], JSON]:
    """The ScheduledJobs of the scheduled runs among `objects` (whose creator is the
    job's creator), by (namespace, name); empty if they cannot be read."""
    wanted = {
        (namespace_of(o), scheduled_job_of(o) or "")
        for o in objects
        if spec_of(o).get("trigger") == "Schedule" and scheduled_job_of(o)
    }
    if not wanted:
        return {}
    jobs: dict[tuple[str, str], JSON] = {}
    for namespace, name in sorted(wanted):
        try:
            job = ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, namespace, name))
        except KubeError:
            continue
        job.setdefault("kind", c.KIND_SCHEDULED_JOB)
        jobs[(namespace, name)] = job
    return jobs


def _job_of(obj: Mapping[str, Any], jobs: Mapping[tuple[str, str], JSON]) -> JSON | None:
    """The ScheduledJob of a run, if it was looked up."""
    return jobs.get((namespace_of(obj), scheduled_job_of(obj) or ""))


def _mine(objects: Iterable[JSON], me: str, jobs: Mapping[tuple[str, str], JSON]) -> list[JSON]:
    """The objects `me` counts as the creator of."""
    return [o for o in objects if me in owner_candidates(o, _job_of(o, jobs))]


def _find(ctx: Context, text: str, kind_option: str | None, default_kinds: Sequence[str]) -> JSON:
    """The object NAME or KIND/NAME names: with a kind, that one; else the first of
    `default_kinds` that has it (an error if several do)."""
    prefix, name = split_ref(text)
    if prefix and kind_option and kind_of(kind_option) != prefix:
        raise UsageError(f"{text}: the kind in the name differs from --kind {kind_option}")
    kinds = [prefix] if prefix else [kind_of(kind_option)] if kind_option else list(default_kinds)
    found: list[JSON] = []
    for kind in kinds:
        try:
            obj = ctx.kube.get(resource_path(PLURALS[kind], ctx.namespace, name))
        except KubeError as error:
            if error.not_found:
                continue
            raise
        obj.setdefault("kind", kind)
        found.append(obj)
    if not found:
        what = " or ".join(kinds)
        raise KubeError(
            "GET",
            name,
            404,
            to_json(
                {
                    "reason": "NotFound",
                    "message": f'no {what} named "{name}" in namespace "{ctx.namespace}"',
                }
            ),
        )
    if len(found) > 1:
        kinds_found = ", ".join(f"{o['kind'].lower()}/{name}" for o in found)
        raise UsageError(
            f'"{name}" is ambiguous: {kinds_found}; name the kind with -k or KIND/NAME'
        )
    return found[0]


def _confirm(ctx: Context, question: str) -> bool:
    """Ask on the terminal; anything but y/yes is no."""
    ctx.err.write(f"{CONFIRM_WARNING} {question} [y/N]: ")
    ctx.err.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _machine(ctx: Context, output: str | None, data: object) -> bool:
    """Print `data` as JSON or YAML if asked; True if printed."""
    if output == "json":
        ctx.print(to_json(data))
        return True
    if output == "yaml":
        ctx.print(to_yaml(data))
        return True
    return False


# ------------------------------------------------------------------------ active
def cmd_active(ctx: Context, args: argparse.Namespace) -> int:
    """List unfinished runs and exports."""
    objects: list[JSON] = []
    for kind in _kinds(args.kind, RUN_KINDS):
        objects += _list(ctx, kind, args.selector)
    live = views.active_objects(objects)
    needs_user = args.mine or args.output not in ("json", "yaml", "name")
    me = whoami(ctx.kube) if needs_user and live else None
    jobs = _jobs_for(ctx, live) if needs_user else {}
    if args.mine:
        if me is None:
            ctx.error("error: --mine: the API server cannot tell who you are (SelfSubjectReview)")
            return 1
        live = _mine(live, me, jobs)
    if _machine(ctx, args.output, {**kubectl_list(live), "totals": active_totals(live)}):
        return 0
    if args.output == "name":
        for obj in live:
            ctx.print(_ref(str(obj["kind"]), name_of(obj)))
        return 0
    if not live:
        ctx.error(f"No active runs {ctx.where()}.")
        return 0
    rights = cancel_rights(ctx.kube, live, me, jobs)
    headers, rows = views.active_rows(
        live, rights, ctx.now, wide=args.output == "wide", all_namespaces=ctx.all_namespaces
    )
    ctx.print(table(headers, rows))
    return 0


# ------------------------------------------------------------------------ status
def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    """Describe one run or export."""
    obj = _find(ctx, args.name, args.kind, RUN_KINDS)
    if obj["kind"] not in RUN_KINDS:
        raise UsageError("status shows a JobRun or an Export; for a ScheduledJob use history")
    if _machine(ctx, args.output, obj):
        return 0
    kind, name = str(obj["kind"]), name_of(obj)
    try:
        events = ctx.kube.list_items(
            resource_path("events", ctx.namespace, api_version="v1"),
            fieldSelector=f"involvedObject.name={name},involvedObject.kind={kind}",
        )
    except KubeError as error:
        ctx.error(f"Warning: cannot read Events: {error.message}")
        events = []
    right = None
    try:
        me = whoami(ctx.kube)
        job_name = scheduled_job_of(obj)
        job = _jobs_for(ctx, [obj]).get((ctx.namespace, job_name or ""))
        right = cancel_right(obj, me, Access(ctx.kube), job)
    except KubeError:
        right = None
    ctx.print(views.describe_run(obj, last_events(events, args.events), ctx.now, right=right))
    return 0


# ------------------------------------------------------------------------ cancel
def _cancel_targets(ctx: Context, args: argparse.Namespace) -> tuple[list[JSON], list[Outcome]]:
    """The objects to cancel, and outcomes already known (names not found)."""
    if args.names:
        targets, missing = [], []
        for text in args.names:
            try:
                targets.append(_find(ctx, text, args.kind, RUN_KINDS))
            except KubeError as error:
                if not error.not_found:
                    raise
                kind_prefix, name = split_ref(text)
                kind = kind_prefix or (kind_of(args.kind) if args.kind else "JobRun")
                missing.append(Outcome(kind, ctx.namespace, name, Result.NOT_FOUND, error.message))
        return targets, missing
    kinds = [kind_of(args.kind)] if args.kind else list(RUN_KINDS)
    selected: list[JSON] = []
    for kind in kinds:
        selected += _list(ctx, kind, args.selector)
    return actions.open_to_cancel(selected), []


def cmd_cancel(ctx: Context, args: argparse.Namespace) -> int:
    """Cancel what the arguments select, reporting each object."""
    bulk = bool(args.selector) or args.all
    if args.names and bulk:
        raise UsageError("give NAMEs, or -l/--all, not both")
    if not args.names and not bulk:
        raise UsageError("say what to cancel: NAME…, -l SELECTOR or --all")
    if ctx.all_namespaces and not bulk:
        raise UsageError("-A/--all-namespaces selects with -l or --all; NAMEs are per namespace")
    if args.kind:
        kind_of(args.kind, (*RUN_KINDS, c.KIND_SCHEDULED_JOB, c.KIND_BACKFILL))
    dry_run = args.dry_run
    interactive = _interactive()
    if bulk and not args.yes and dry_run == "none" and not interactive:
        raise UsageError(
            "cancel with -l or --all needs -y (--yes) when not run on a terminal, as it "
            "cannot ask for confirmation (see what it would cancel with --dry-run)"
        )
    targets, outcomes = _cancel_targets(ctx, args)
    me = whoami(ctx.kube) if args.mine or dry_run == "client" else None
    jobs = _jobs_for(ctx, targets)
    if args.mine:
        if me is None:
            ctx.error("error: --mine: the API server cannot tell who you are (SelfSubjectReview)")
            return 1
        targets = _mine(targets, me, jobs)
    if not targets and not outcomes:
        ctx.error(f"No unfinished runs to cancel {ctx.where()}.")
        return 0
    if targets and not args.yes and dry_run == "none" and interactive:
        for obj in targets:
            ref = _ref(str(obj["kind"]), name_of(obj))
            ctx.err.write(f"  {ref}  ({phase_of(obj)}, {namespace_of(obj)})\n")
        noun = "object" if len(targets) == 1 else "objects"
        if not _confirm(ctx, f"Cancel {len(targets)} {noun}?"):
            ctx.error("Nothing was cancelled.")
            return 1
    access = Access(ctx.kube)
    for obj in targets:
        outcomes.append(
            actions.cancel(
                ctx.kube,
                obj,
                reason=args.reason,
                dry_run=dry_run,
                me=me,
                access=access,
                job=_job_of(obj, jobs),
            )
        )
    return _report(ctx, outcomes, args.output, "be cancelled", dry_run)


#: How each result reads.
_SAID: dict[str, str] = {
    Result.REQUESTED: "cancel requested",
    Result.UNCHANGED: "unchanged",
    Result.WOULD_CANCEL: "would be cancelled",
    Result.WOULD_BE_DENIED: "would be denied",
    Result.NOT_CANCELLABLE: "not cancellable",
    Result.DENIED: "denied",
    Result.NOT_FOUND: "not found",
    Result.FAILED: "failed",
    Result.PAUSED: "paused",
    Result.RESUMED: "resumed",
}


def _report(
    ctx: Context, outcomes: Sequence[Outcome], output: str | None, action: str, dry_run: str
) -> int:
    """One line per object (stdout if done, stderr if not), a summary when something
    failed; exit status 1 if anything failed."""
    if _machine(ctx, output, [o.record() for o in outcomes]):
        return 0 if all(o.ok for o in outcomes) else 1
    for o in outcomes:
        where = f" in {o.namespace}" if ctx.all_namespaces else ""
        said = _SAID.get(o.result, o.result)
        if o.ok:
            if output == "name":
                ctx.print(_ref(o.kind, o.name))
            else:
                notes = ["server dry run"] if dry_run == "server" else []
                notes += [o.message] if o.message else []
                detail = f" ({'; '.join(notes)})" if notes else ""
                ctx.print(f"{_ref(o.kind, o.name)}{where} {said}{detail}")
        else:
            ctx.error(f"error: {_ref(o.kind, o.name)}{where} {said}: {o.message}")
    failed = [o for o in outcomes if not o.ok]
    if failed and len(outcomes) > 1:
        ctx.error(f"error: {len(failed)} of {len(outcomes)} could not {action}")
    return 1 if failed else 0


# ------------------------------------------------------------------- run / retry
def _created(ctx: Context, body: JSON, args: argparse.Namespace) -> int:
    """Create `body` (or show it, for a client dry run) and print what was made."""
    kind = str(body["kind"])
    if args.dry_run == "client":
        if _machine(ctx, args.output, body):
            return 0
        generated = str(body["metadata"]["generateName"]) + "<generated>"
        ctx.print(f"{_ref(kind, generated)} created (client dry run)")
        return 0
    created = actions.create(ctx.kube, body, dry_run=args.dry_run)
    if _machine(ctx, args.output, created):
        return 0
    if args.output == "name":
        ctx.print(_ref(kind, name_of(created)))
        return 0
    suffix = " (server dry run)" if args.dry_run == "server" else ""
    ctx.print(f"{_ref(kind, name_of(created))} created{suffix}")
    return 0


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    """Run a ScheduledJob now."""
    job = args.scheduled_job
    ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, ctx.namespace, job))  # exists?
    return _created(ctx, actions.manual_run(job, ctx.namespace, args.priority), args)


def cmd_retry(ctx: Context, args: argparse.Namespace) -> int:
    """Run a finished run again."""
    obj = _find(ctx, args.name, args.kind, (c.KIND_JOB_RUN,))
    if obj["kind"] not in RUN_KINDS:
        raise UsageError("retry repeats a JobRun or an Export")
    try:
        body = actions.rerun(obj)
    except actions.NotFinishedError:
        ctx.error(
            f"error: {_ref(str(obj['kind']), name_of(obj))} is {phase_of(obj)}: only a finished "
            "run can be retried (wait for it, or cancel it first)"
        )
        return 1
    return _created(ctx, body, args)


# ------------------------------------------------------------------ pause/resume
def _suspend(ctx: Context, args: argparse.Namespace, suspend: bool) -> int:
    if args.names and args.selector:
        raise UsageError("give SCHEDULEDJOB names, or -l, not both")
    if not args.names and not args.selector:
        raise UsageError("say which ScheduledJobs: names or -l SELECTOR")
    outcomes: list[Outcome] = []
    jobs: list[JSON] = []
    if args.selector:
        jobs = _list(ctx, c.KIND_SCHEDULED_JOB, args.selector)
        if not jobs:
            ctx.error(f"No ScheduledJobs match {args.selector!r} {ctx.where()}.")
            return 0
    for name in args.names:
        try:
            job = ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, ctx.namespace, name))
        except KubeError as error:
            result = Result.NOT_FOUND if error.not_found else Result.FAILED
            outcomes.append(
                Outcome(c.KIND_SCHEDULED_JOB, ctx.namespace, name, result, error.describe())
            )
            continue
        job.setdefault("kind", c.KIND_SCHEDULED_JOB)
        jobs.append(job)
    outcomes += [actions.suspend(ctx.kube, job, suspend, dry_run=args.dry_run) for job in jobs]
    return _report_suspend(ctx, outcomes, args)


def _report_suspend(ctx: Context, outcomes: Sequence[Outcome], args: argparse.Namespace) -> int:
    failed = 0
    dry = f" ({args.dry_run} dry run)" if args.dry_run != "none" else ""
    for o in outcomes:
        if o.ok:
            if args.output == "name":
                ctx.print(_ref(o.kind, o.name))
            elif o.result == Result.UNCHANGED:
                ctx.print(f"{_ref(o.kind, o.name)} unchanged ({o.message})")
            else:
                note = f" ({o.message})" if o.message and o.message != "would be" else ""
                ctx.print(f"{_ref(o.kind, o.name)} {o.result}{dry}{note}")
        else:
            failed += 1
            ctx.error(f"error: {_ref(o.kind, o.name)} {_SAID.get(o.result, o.result)}: {o.message}")
    return 1 if failed else 0


def cmd_pause(ctx: Context, args: argparse.Namespace) -> int:
    """Pause ScheduledJobs."""
    return _suspend(ctx, args, True)


def cmd_resume(ctx: Context, args: argparse.Namespace) -> int:
    """Resume ScheduledJobs."""
    return _suspend(ctx, args, False)


# ----------------------------------------------------------------------- history
def _phases(values: Sequence[str] | None) -> list[str]:
    chosen = []
    known = {p.lower(): p for p in history.HISTORY_PHASES}
    for value in values or ():
        for part in value.split(","):
            if not part.strip():
                continue
            phase = known.get(part.strip().lower())
            if phase is None:
                raise UsageError(
                    f"--status {part.strip()!r}: use one of {', '.join(history.HISTORY_PHASES)}"
                )
            chosen.append(phase)
    return chosen


def cmd_history(ctx: Context, args: argparse.Namespace) -> int:
    """The runs of a ScheduledJob, newest first."""
    phases = _phases(args.status)
    since = parse_since(args.since, ctx.now) if args.since else None
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    job = ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, ctx.namespace, args.scheduled_job))
    job.setdefault("kind", c.KIND_SCHEDULED_JOB)
    runs = ctx.kube.list_items(resource_path(c.PLURAL_JOB_RUNS, ctx.namespace))
    records = history.filter_history(
        history.history_records(job, runs, ctx.now), phases=phases, since=since, limit=args.limit
    )
    public = [history.public_record(r) for r in records]
    if args.output == "csv":
        ctx.out.write(to_csv(history.HISTORY_COLUMNS, public))
        return 0
    if _machine(ctx, args.output, public):
        return 0
    if args.output == "name":
        for record in public:
            if record["source"] == c.KIND_JOB_RUN:
                ctx.print(_ref(c.KIND_JOB_RUN, str(record["name"])))
        return 0
    if not public:
        ctx.error(f'No runs of ScheduledJob "{args.scheduled_job}" match.')
        return 0
    headers, rows = views.history_rows(records, wide=args.output == "wide")
    ctx.print(table(headers, rows))
    return 0


# -------------------------------------------------------------------------- next
def cmd_next(ctx: Context, args: argparse.Namespace) -> int:
    """The next fires of a ScheduledJob."""
    if not 1 <= args.count <= MAX_PREVIEW:
        raise UsageError(f"--count must be 1-{MAX_PREVIEW}")
    job = ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, ctx.namespace, args.scheduled_job))
    job.setdefault("kind", c.KIND_SCHEDULED_JOB)
    if not spec_of(job).get("schedule"):
        ctx.error(
            f'error: ScheduledJob "{args.scheduled_job}" is a one-time job (no schedule): '
            "it ran once, at its creation"
        )
        return 1
    try:
        schedule = job_schedule(job)
    except InvalidScheduleError as error:
        ctx.error(f"error: ScheduledJob {args.scheduled_job}: {error.message}")
        return 1
    fires = preview(schedule, ctx.now, args.count)
    if _machine(ctx, args.output, views.next_records(fires)):
        return 0
    ctx.print(views.next_summary(job, schedule))
    headers, rows = views.next_rows(fires)
    ctx.print(table(headers, rows))
    return 0


# ---------------------------------------------------------------------- backfill
def cmd_backfill(ctx: Context, args: argparse.Namespace) -> int:
    """Create a Backfill (or show what it would do)."""
    if args.max_concurrent is not None and not 1 <= args.max_concurrent <= MAX_CONCURRENT:
        raise UsageError(f"--max-concurrent must be 1-{MAX_CONCURRENT}")
    job = ctx.kube.get(resource_path(c.PLURAL_SCHEDULED_JOBS, ctx.namespace, args.scheduled_job))
    job.setdefault("kind", c.KIND_SCHEDULED_JOB)
    zone = time_zone_of(job)
    start = parse_when(args.start, ctx.now, zone, option="--from")
    end = parse_when(args.end, ctx.now, zone, option="--to", end_of_day=True)
    if end <= start:
        raise UsageError("--to must be later than --from")
    body = actions.backfill(args.scheduled_job, ctx.namespace, start, end, args.max_concurrent)
    if args.dry_run != "client":
        return _created(ctx, body, args)
    try:
        fires = backfill_fires(job, start, end, ctx.now, c.MAX_BACKFILL_FIRES + 1)
    except InvalidScheduleError as error:
        ctx.error(f"error: ScheduledJob {args.scheduled_job}: {error.message}")
        return 1
    if len(fires) > c.MAX_BACKFILL_FIRES:
        ctx.error(
            f"error: the range holds more than {c.MAX_BACKFILL_FIRES} fires: split it "
            "into several backfills"
        )
        return 1
    runs = _list(ctx, c.KIND_JOB_RUN, f"{c.LABEL_SCHEDULED_JOB}={args.scheduled_job}")
    planned = actions.backfill_plan(fires, runs, job)
    if _machine(ctx, args.output, [p.record() for p in planned]):
        return 0
    creates = sum(1 for p in planned if p.action == actions.FireAction.CREATE)
    ctx.print(
        f"Backfill of ScheduledJob {args.scheduled_job} (client dry run): {len(planned)} "
        f"fire(s) from {format_timestamp(start)} to {format_timestamp(min(end, ctx.now))}; "
        f"{creates} run(s) would be created, {len(planned) - creates} skipped"
    )
    headers, rows = views.backfill_rows(planned, zone)
    if rows:
        ctx.print(table(headers, rows))
    return 0


# ------------------------------------------------------------------------- quota
def cmd_quota(ctx: Context, args: argparse.Namespace) -> int:
    """WorkerQuotas and their use."""
    quotas = _list(ctx, c.KIND_WORKER_QUOTA)
    runs: list[JSON] = []
    covered = {namespace_of(q) for q in quotas}
    if ctx.all_namespaces or ctx.namespace not in covered:
        try:
            for kind in RUN_KINDS:
                runs += _list(ctx, kind)
        except KubeError as error:
            ctx.error(f"Warning: cannot count runs for the default quota: {error.message}")
    records = quota_records(quotas, runs, [] if ctx.all_namespaces else [ctx.namespace])
    if _machine(ctx, args.output, records):
        return 0
    headers, rows = views.quota_rows(records, all_namespaces=ctx.all_namespaces)
    ctx.print(table(headers, rows))
    return 0


COMMANDS: dict[str, Command] = {
    "active": cmd_active,
    "status": cmd_status,
    "cancel": cmd_cancel,
    "run": cmd_run,
    "retry": cmd_retry,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "next": cmd_next,
    "backfill": cmd_backfill,
    "history": cmd_history,
    "quota": cmd_quota,
}
