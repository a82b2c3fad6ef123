"""kopf registrations: thin glue between kopf's watch streams and the engine.

- Indexes fill the engine's store; kopf fills them completely before any handler
  runs, so the first decision after a start or takeover sees every run and pod.
- Event handlers only kick the engine's work queue.
- The engine itself runs inside a kopf daemon on the operator's own ConfigMap, so
  kopf peering pauses it on the standby replica exactly as it pauses watching.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from jobwarden.api import constants as c
from jobwarden.engine.kube import Kube, KubeApiError, login, resource_path
from jobwarden.engine.reconciler import Engine, EngineConfig
from jobwarden.settings import OperatorConfig

logger = logging.getLogger("jobwarden.operator")

RUN_PLURALS = (c.PLURAL_JOB_RUNS, c.PLURAL_EXPORTS)
_RUN_LABEL_PRESENT = {c.LABEL_RUN: kopf.PRESENT}


def _engine(memo: kopf.Memo) -> Engine:
    engine: Engine = memo["engine"]
    return engine


@kopf.on.login()
def authenticate(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf and our API layer use the same credentials."""
    return login(settings)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """kopf settings: our own names for its storage, no chatter, server-side filters."""
    config = OperatorConfig.from_env()
    settings.posting.enabled = False  # our own Events, on transitions only
    settings.persistence.finalizer = f"{c.GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=f"operator.{c.GROUP}"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=f"operator.{c.GROUP}", key="last-handled-configuration"
    )
    settings.watching.label_selectors["v1", "pods"] = c.LABEL_RUN
    settings.watching.field_selectors["v1", "configmaps"] = (
        f"metadata.name={config.anchor_name},metadata.namespace={config.namespace}"
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.batching.worker_limit = 64
    settings.batching.batch_window = 0.01  # react within milliseconds, not the default 0.1 s
    kube = Kube()
    memo["config"] = config
    memo["engine"] = Engine(
        kube,
        EngineConfig(
            default_max_running=config.default_max_running,
            worker_image=config.worker_image,
            exit_margin_seconds=config.exit_margin_seconds,
            workers=config.workers,
        ),
    )
    await _ensure_anchor(kube, config)


async def _ensure_anchor(kube: Kube, config: OperatorConfig) -> None:
    """The ConfigMap that hosts the engine daemon (created if missing)."""
    path = resource_path("v1", "configmaps", config.namespace)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config.anchor_name,
            "labels": {
                "app.kubernetes.io/name": "jobwarden",
                "app.kubernetes.io/component": "operator",
            },
        },
        "data": {"purpose": "hosts the jobwarden engine (one active replica at a time)"},
    }
    try:
        await kube.create(path, body)
    except KubeApiError as error:
        if not error.conflict:
            raise kopf.PermanentError(
                f"cannot create ConfigMap {config.namespace}/{config.anchor_name}: {error}"
            ) from error


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    """Flush pending Events and close the HTTP session."""
    engine = memo.get("engine")
    if isinstance(engine, Engine):
        await engine.events.drain()
        await engine.kube.close()


# ------------------------------------------------------------------------- runs
def _run_key(body: kopf.Body) -> tuple[str, str, str]:
    return (str(body["kind"]), str(body.metadata.namespace), str(body.metadata.name))


for _plural in RUN_PLURALS:

    @kopf.index(c.GROUP, c.VERSION, _plural)
    def index_run(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Keep the run's projection (the index value itself is unused)."""
        _engine(memo).store.put_run(body)

    @kopf.on.event(c.GROUP, c.VERSION, _plural)
    def on_run_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Any change of a run: reconcile it."""
        engine = _engine(memo)
        key = _run_key(body)
        if type == "DELETED":
            engine.store.remove_run(key)
            engine.kick_namespace(key[1])
        else:
            engine.store.put_run(body)
        engine.kick_run(key)


# ------------------------------------------------------------------------- pods
@kopf.index("v1", "pods", labels=_RUN_LABEL_PRESENT)
def index_pod(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keep the worker pod's projection."""
    _engine(memo).store.put_pod(body)


@kopf.on.event("v1", "pods", labels=_RUN_LABEL_PRESENT)
def on_pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
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
@kopf.index(c.GROUP, c.VERSION, c.PLURAL_WORKER_QUOTAS)
def index_quota(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keep the namespace's limit."""
    engine = _engine(memo)
    max_running = int(body.spec.get("maxRunning", engine.config.default_max_running))
    engine.store.put_quota(str(body.metadata.namespace), str(body.metadata.name), max_running)


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_WORKER_QUOTAS)
def on_quota_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A quota changed: re-rank the namespace's queue."""
    engine = _engine(memo)
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    if type == "DELETED":
        engine.store.remove_quota(namespace, name)
    else:
        max_running = int(body.spec.get("maxRunning", engine.config.default_max_running))
        engine.store.put_quota(namespace, name, max_running)
    engine.kick_namespace(namespace)


# ----------------------------------------------------------------------- engine
def _is_anchor(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> bool:
    config: OperatorConfig = memo["config"]
    return name == config.anchor_name and namespace == config.namespace


@kopf.daemon("v1", "configmaps", when=_is_anchor, cancellation_timeout=10)
async def run_engine(stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    """The engine runs while this replica is the active one."""
    engine = _engine(memo)
    logger.info("engine started (pid %s)", os.getpid())
    task = asyncio.create_task(engine.run())
    try:
        await stopped.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        logger.info("engine stopped (%s)", stopped.reason)
