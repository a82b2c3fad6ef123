"""kopf registrations: thin glue between kopf's watch streams and the engine.

- Event handlers keep the engine's store current and kick its work queue.
- The engine runs only on the replica holding the `jobwarden-operator` Lease (see
  `engine.leader`); the others keep watching, so a takeover starts warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Iterable
from typing import Any

import kopf

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.engine import memory
from jobwarden.engine.kube import Kube, login
from jobwarden.engine.leader import LeaderElector
from jobwarden.engine.reconciler import Engine, EngineConfig
from jobwarden.settings import OperatorConfig
from jobwarden.webhooks import configure_admission  # registers the admission handlers

logger = logging.getLogger("jobwarden.operator")

RUN_PLURALS = (c.PLURAL_JOB_RUNS, c.PLURAL_EXPORTS)
#: At a stop, Events still waiting are posted for at most this long (a pod has 30 s).
EVENT_DRAIN_SECONDS = 10.0
#: On SIGTERM the engine stops and the Lease is released for at most this long before
#: kopf's own shutdown begins (a pod has 30 s in all).
STEP_DOWN_SECONDS = 10.0
_RUN_LABEL_PRESENT = {c.LABEL_RUN: kopf.PRESENT}


def _engine(memo: kopf.Memo) -> Engine:
    engine: Engine = memo["engine"]
    return engine


@kopf.on.login()
def authenticate(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf and our API layer use the same credentials."""
    return login(settings)


class NoDiffBase(kopf.DiffBaseStorage):
    """No "last handled" state: kopf deep-copies every watched object to diff it
    against that state (an eighth of the operator's CPU under load), and only
    change-detecting handlers (on.create/update/resume) read the diff. The engine
    watches with on.event alone; `test_controller` fails if that changes."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """kopf settings (our own names, no chatter, server-side filters); start campaigning."""
    config = OperatorConfig.from_env()
    await metrics.start_metrics_server(config.metrics_port, config.metrics_address)  # first
    settings.posting.enabled = False  # our own Events, on transitions only
    settings.persistence.finalizer = f"{c.GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=f"operator.{c.GROUP}"
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.label_selectors["v1", "pods"] = c.LABEL_RUN
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.chunk_size = 500  # initial listings page by page, not all in memory
    settings.networking.request_timeout = 60
    # The handlers only update memory and kick the engine's queue: no cap on kopf's
    # per-object workers (its default, and any cap, throttles bursts to ~cap / 5 s).
    settings.queueing.worker_limit = None
    # A per-object worker lingers this long after its last event, holding that event:
    # at kopf's 5 s, a start-up listing of 20,000 objects keeps ~all of them in memory;
    # 0.1 s against 0.5 s measured 5-9 MiB less RSS (docs/performance.md, item 17).
    settings.queueing.idle_timeout = 0.1
    configure_admission(settings, config, memo)  # webhooks: identity stamps, cancel and run checks
    kube = Kube()
    engine = Engine(
        kube,
        EngineConfig(
            default_max_running=config.default_max_running,
            worker_image=config.worker_image,
            exit_margin_seconds=config.exit_margin_seconds,
            workers=config.workers,
            operator_username=config.operator_username,
            retention_seconds=config.run_retention_days * 86400 or None,
        ),
    )
    identity = f"{os.environ.get('POD_NAME') or os.uname().nodename}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(kube, config.namespace, config.lease_name, identity)
    memo["config"] = config
    memo["engine"] = engine
    memo["elector"] = elector
    metrics.watch_state(engine.state, lambda: elector.is_leader)  # state gauges from the leader
    memo["campaign"] = asyncio.create_task(elector.run(engine.run))
    memo["trimmer"] = asyncio.create_task(memory.trim_periodically())
    install_stop_signals(memo)


def install_stop_signals(memo: kopf.Memo) -> None:
    """Take SIGTERM and SIGINT over from kopf (it installed its handlers before the
    startup handlers ran) when `__main__` gave a stop flag in the memo.

    kopf releases nothing until its watchers and webhook server have stopped, and the
    cleanup handlers run only then: under load that took long enough for the Lease to
    run out on its own (15 s) before the standby could lead. Stepping down first hands
    over at once, while this replica still serves webhooks."""
    stop = memo.get("stop_flag")
    if not isinstance(stop, asyncio.Event):
        return  # run some other way: kopf's handlers stay, the cleanup releases the Lease
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, memo, stop, signum)


def on_signal(memo: kopf.Memo, stop: asyncio.Event, signum: int) -> None:
    """First signal: step down, then stop kopf. A second one stops kopf at once."""
    if "stepping_down" in memo:
        stop.set()
        return
    logger.info("%s received: stepping down, then stopping", signal.Signals(signum).name)
    memo["stepping_down"] = asyncio.create_task(_step_down_then_stop(memo, stop))


async def _step_down_then_stop(memo: kopf.Memo, stop: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(step_down(memo), STEP_DOWN_SECONDS)
    except TimeoutError:
        logger.warning("stepping down took over %.0f s: stopping anyway", STEP_DOWN_SECONDS)
    finally:
        stop.set()


async def step_down(memo: kopf.Memo) -> None:
    """Stop campaigning and the engine, then release the Lease (idempotent)."""
    trimmer = memo.get("trimmer")
    if isinstance(trimmer, asyncio.Task):
        trimmer.cancel()
    campaign = memo.get("campaign")
    if isinstance(campaign, asyncio.Task):
        campaign.cancel()
        await asyncio.gather(campaign, return_exceptions=True)
    elector = memo.get("elector")
    if isinstance(elector, LeaderElector):
        await elector.release()


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    """Stop leading, hand the Lease over (if a signal did not already), flush Events,
    close the HTTP session."""
    await step_down(memo)
    engine = memo.get("engine")
    if isinstance(engine, Engine):
        unsent = await engine.events.drain(EVENT_DRAIN_SECONDS)
        if unsent:
            logger.warning("stopping with %d Events not posted (status.log has them)", unsent)
        await engine.kube.close()


# ------------------------------------------------------------------------- runs
def _run_key(body: kopf.Body) -> tuple[str, str, str]:
    return (str(body["kind"]), str(body.metadata.namespace), str(body.metadata.name))


for _plural in RUN_PLURALS:

    @kopf.on.event(c.GROUP, c.VERSION, _plural)
    async def on_run_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Any change of a run: reconcile it."""
        engine = _engine(memo)
        key = _run_key(body)
        if type == "DELETED":
            view = engine.store.run(key)
            engine.store.remove_run(key)
            engine.kick_namespace(key[1])
        else:
            view = engine.store.put_run(body)
            engine.kick_namespace(key[1], delay=0.5)  # refresh the queue counts shown
        engine.kick_run(key)
        if view is not None and view.scheduled_job:
            engine.kick_scheduled_job(view.namespace, view.scheduled_job)
        backfill = (body.metadata.labels or {}).get(c.LABEL_BACKFILL)
        if backfill:
            engine.kick_backfill(key[1], str(backfill))


# ---------------------------------------------------------------- scheduled jobs
@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_SCHEDULED_JOBS)
async def on_scheduled_job_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """A ScheduledJob changed: reconcile it (and re-rank runs waiting on its policy)."""
    engine = _engine(memo)
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if type == "DELETED":
        engine.store.remove_scheduled_job(namespace, name)
    else:
        engine.store.put_scheduled_job(body)
        engine.kick_scheduled_job(namespace, name)
    engine.kick_namespace(namespace, delay=0.1)
    for backfill in engine.store.backfills_of(namespace, name):
        engine.kick_backfill(namespace, backfill.name)


# --------------------------------------------------------------------- backfills
@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_BACKFILLS)
async def on_backfill_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Backfill changed: reconcile it."""
    engine = _engine(memo)
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if type == "DELETED":
        engine.store.remove_backfill(namespace, name)
    else:
        engine.store.put_backfill(body)
        engine.kick_backfill(namespace, name)


# ------------------------------------------------------------------------- pods
@kopf.on.event("v1", "pods", labels=_RUN_LABEL_PRESENT)
async def on_pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A worker pod changed: reconcile its run."""
    engine = _engine(memo)
    if type == "DELETED":
        owner = engine.store.remove_pod(body)
        engine.forget_pod_uid(str(body.metadata.uid))
        if owner is not None:
            engine.kick_namespace(owner[1])
    else:
        owner = engine.store.put_pod(body)
    if owner is not None:
        engine.kick_run(owner)


# ----------------------------------------------------------------------- quotas
@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_WORKER_QUOTAS)
async def on_quota_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A quota changed: re-rank the namespace's queue."""
    engine = _engine(memo)
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if type == "DELETED":
        engine.store.remove_quota(namespace, name)
    else:
        engine.store.put_quota_object(body, engine.config.default_max_running)
    engine.kick_namespace(namespace)
