"""The admission webhooks' moving parts: kopf's HTTPS server with our certificates,
the answers the rules need from the API, and a readiness check.

`handlers.configure_admission` sets them up at the operator's startup. Every replica
serves the webhooks (leader or not), all with the certificate kept in one Secret, so
the API server can call any of them (a Service in front of them in a cluster; locally
several processes listening on one port with SO_REUSEPORT).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import kopf

from jobwarden.api import constants as c
from jobwarden.api.enums import AuditOutcome
from jobwarden.api.paths import object_path, resource_path
from jobwarden.core.conditions import format_micro_time
from jobwarden.core.podspec import WORKER_SERVICE_ACCOUNT, build_worker_pod
from jobwarden.core.refusals import ApiRefusal, RefusalCause, classify
from jobwarden.engine.audit import AuditLog
from jobwarden.engine.kube import Kube
from jobwarden.engine.port import JSON, KubeApi, KubeApiError, whoami
from jobwarden.settings import OperatorConfig
from jobwarden.webhooks import certs
from jobwarden.webhooks.decisions import (
    AccessReview,
    Answer,
    Facts,
    Question,
    Request,
    ScheduledJobFacts,
    ScheduledJobLookup,
    Unanswered,
    User,
    Verdict,
    WorkerPodCheck,
    audit_records,
    decide,
    request_identity,
    terminal_phase,
)
from jobwarden.webhooks.dryruns import AcceptedPods, pod_key

logger = logging.getLogger("jobwarden.webhooks")

#: Names of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration kopf
#: creates and keeps (its webhooks are named `<handler id>.jobwarden.dev`).
CONFIGURATION_NAME: Final = c.GROUP
#: Logged once the API server demonstrably calls this replica's webhooks.
READY_LINE: Final = "admission webhooks ready"
#: How often the Secret is re-read (certificates another replica rotated) and checked.
CHECK_INTERVAL: Final = 300.0
#: How often kopf's server re-reads the certificate files (it restarts on a change).
FILE_CHECK_INTERVAL: Final = 10.0
#: Budget of one API call made while the API server waits for our answer (<30 s).
API_TIMEOUT: Final = 10.0
SERVICE_PORT: Final = 443


def serving_names(config: OperatorConfig) -> list[str]:
    """The names the serving certificate must carry: what the API server dials."""
    names: list[str] = []
    if config.webhook_host:
        names.append(config.webhook_host)
    if config.webhook_service:
        service = f"{config.webhook_service}.{config.namespace}.svc"
        names += [service, f"{service}.cluster.local"]
    if not names:  # kopf advertises the listening address (0.0.0.0 → 127.0.0.1)
        address = config.webhook_address
        names.append("127.0.0.1" if address in ("", "0.0.0.0") else address)
    return names


@dataclass(frozen=True)
class CertFiles:
    """Where kopf's server reads its certificate (it watches them for changes)."""

    cert: Path
    key: Path
    ca: Path | None

    @classmethod
    def for_config(cls, config: OperatorConfig, directory: Path) -> CertFiles:
        """Self-managed: one file with certificate and key, so a reader never sees a
        mismatched pair; provided (cert-manager): the usual three files."""
        if config.webhook_cert_source == "files":
            ca = directory / certs.CA_CRT
            return cls(directory / certs.TLS_CRT, directory / certs.TLS_KEY, ca)
        return cls(directory / "tls.pem", directory / "tls.pem", directory / certs.CA_CRT)


def _write_atomic(path: Path, data: bytes) -> bool:
    """Replace a file in one step (readers see the old or the new one); False if equal."""
    if path.exists() and path.read_bytes() == data:
        return False
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(scratch, 0o600)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise
    return True


class AdmissionRuntime:
    """State the handlers share: API client, own identity, certificates, tasks."""

    def __init__(self, config: OperatorConfig, kube: KubeApi | None = None) -> None:
        self.config = config
        self.kube: KubeApi = kube or Kube()
        self.audit = AuditLog()
        #: Audit lines already written for a request: the API server admits a write
        #: again when it retries it after a conflict (another writer, e.g. a status
        #: update, came first), and one action must be one line.
        self._audited: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.operator: str | None = config.operator_username or None
        self._owns_dir = not config.webhook_cert_dir
        if config.webhook_cert_source == "files" and self._owns_dir:
            raise ValueError(
                "JOBWARDEN_WEBHOOK_CERT_SOURCE=files needs JOBWARDEN_WEBHOOK_CERT_DIR: the "
                "directory holding tls.crt, tls.key and ca.crt"
            )
        self.cert_dir = (
            Path(config.webhook_cert_dir)
            if config.webhook_cert_dir
            else Path(tempfile.mkdtemp(prefix="jobwarden-webhook-"))
        )
        self.files = CertFiles.for_config(config, self.cert_dir)
        self.accepted_pods = AcceptedPods(config.webhook_pod_dry_run_cache_seconds)
        self.names = serving_names(config)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._ready = False

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Before serving: know who we are, and have a certificate on disk."""
        if self._started:
            return
        self._started = True
        if not self.operator:
            self.operator = await whoami(self.kube)
        logger.info("admission webhooks: the operator's own identity is %s", self.operator)
        if self.config.webhook_cert_source == "secret":
            self.cert_dir.mkdir(parents=True, exist_ok=True)
            await self.sync_certificates()
            self._tasks.append(asyncio.create_task(self._keep_certificates()))

    def registered(self) -> None:
        """kopf has our client config: check (once) that the API server calls us."""
        if not self._ready and not any(t.get_name() == "probe" for t in self._tasks):
            self._tasks.append(asyncio.create_task(self._probe_until_ready(), name="probe"))

    async def stop(self) -> None:
        """Stop the background tasks, close the API client, remove private files."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.kube.close()
        if self._owns_dir:
            shutil.rmtree(self.cert_dir, ignore_errors=True)

    # -------------------------------------------------------------- certificates
    def _secret_path(self, name: str | None = None) -> str:
        return resource_path("v1", "secrets", self.config.namespace, name)

    async def sync_certificates(self, now: datetime.datetime | None = None) -> certs.CertState:
        """Read the Secret, rotate what is due (optimistic concurrency: the first
        replica to write wins, the others re-read), and write the files kopf serves."""
        for _ in range(5):
            moment = now or datetime.datetime.now(datetime.UTC)
            try:
                secret: JSON | None = await self.kube.get(
                    self._secret_path(self.config.webhook_cert_secret)
                )
            except KubeApiError as error:
                if not error.not_found:
                    raise
                secret = None
            stored = certs.from_secret_data((secret or {}).get("data"))
            state, plan = certs.rotate(stored, self.names, moment)
            if plan.changes:
                try:
                    await self._store(secret, state)
                except KubeApiError as error:
                    if error.conflict:
                        continue  # another replica wrote first: use theirs
                    raise
                logger.info("webhook certificate: %s", "; ".join(plan.reasons))
            self._write_files(state)
            return state
        raise RuntimeError("the webhook certificate Secret kept changing under us")

    async def _store(self, secret: JSON | None, state: certs.CertState) -> None:
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": self.config.webhook_cert_secret,
                "labels": {"app.kubernetes.io/name": "jobwarden"},
            },
            "data": certs.secret_data(state),
        }
        if secret is None:
            await self.kube.create(self._secret_path(), body)
        else:
            body["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"]
            await self.kube.replace(self._secret_path(self.config.webhook_cert_secret), body)

    def _write_files(self, state: certs.CertState) -> None:
        # The bundle first: it only ever gains a CA before the certificate changes.
        assert self.files.ca is not None
        _write_atomic(self.files.ca, certs.ca_bundle_pem(state))
        _write_atomic(self.files.cert, certs.serving_pem(state))

    async def _keep_certificates(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                await self.sync_certificates()
            except Exception as error:  # keep serving the current one; retry later
                logger.warning("webhook certificate check failed (will retry): %s", error)

    # ------------------------------------------------------------------ readiness
    async def _probe_until_ready(self) -> None:
        """A server-side dry-run create: ready once the answer carries our stamp."""
        path = resource_path(c.API_VERSION, c.PLURAL_JOB_RUNS, self.config.namespace)
        body: JSON = {
            "apiVersion": c.API_VERSION,
            "kind": c.KIND_JOB_RUN,
            "metadata": {"generateName": "jobwarden-webhook-probe-"},
            "spec": {"template": {"spec": {"containers": [{"name": "probe", "image": "probe"}]}}},
        }
        last_report, problem = time.monotonic(), "no answer yet"
        while True:
            try:
                answer = await self.kube.create(path, body, dry_run=True)
                stamped = (answer.get("metadata") or {}).get("annotations") or {}
                if stamped.get(c.ANNOTATION_CREATED_BY) == self.operator:
                    self._ready = True
                    logger.info(
                        "%s: the API server calls them (checked with a dry run)", READY_LINE
                    )
                    return
                problem = "the API server does not call them yet"
            except (KubeApiError, OSError, TimeoutError) as error:
                problem = str(error)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                logger.warning("admission webhooks not ready yet: %s", problem)
            await asyncio.sleep(0.2)

    # ------------------------------------------------------------- the handlers
    async def decide(self, request: Request) -> Verdict:
        """`decisions.decide`, asking the API for each fact it needs."""
        facts = Facts()
        for _ in range(8):
            try:
                return decide(request, facts)
            except Unanswered as need:
                answer = await self.answer(request, need.question)
                facts = facts.answered(need.question, answer)
        raise RuntimeError(f"no decision for {request.what}")

    async def answer(self, request: Request, question: Question) -> Answer:
        """One API call: a SubjectAccessReview, a read of a ScheduledJob, or a dry run
        of a worker pod."""
        if isinstance(question, WorkerPodCheck):
            if not self.config.webhook_pod_dry_run:
                return None  # turned off: taken as accepted (the engine still classifies)
            return await self.dry_run_worker_pod(request.namespace, question.body())
        if isinstance(question, ScheduledJobLookup):
            path = resource_path(
                c.API_VERSION, c.PLURAL_SCHEDULED_JOBS, request.namespace, question.name
            )
            try:
                body = await asyncio.wait_for(self.kube.get(path), API_TIMEOUT)
            except KubeApiError as error:
                if not error.not_found:
                    raise
                return ScheduledJobFacts(exists=False)
            return ScheduledJobFacts.from_body(body)
        return await self.access_review(request.user, request.namespace, question)

    async def dry_run_worker_pod(self, namespace: str, run: JSON) -> ApiRefusal | None:
        """Server-side dry run of the pod the engine would create for `run` (the same
        builder), as the operator (the identity that creates it): None if the API
        server would create it, else what it answered.

        The dry-run pod has no owner (the run has no uid before it is stored) and a
        generated name (no clash with a pod of an earlier run of the same name). A pod
        of the worker ServiceAccount, which the engine creates with the namespace's
        first run, is tried with `default` when that one does not exist yet, so that
        the rest of the pod is still checked.
        """
        manifest = build_worker_pod(run, 1, self.config.worker_image)
        metadata = manifest["metadata"]
        metadata.pop("ownerReferences", None)
        metadata["generateName"] = f"{metadata.pop('name')}-"
        own = run.get("metadata") or {}
        key = pod_key(
            namespace, manifest, name=str(own.get("name") or ""), uid=str(own.get("uid") or "")
        )
        if key in self.accepted_pods:
            return None  # the same pod was accepted a moment ago (`dryruns`)
        refusal = await self._dry_run_pod(namespace, manifest)
        spec = manifest["spec"]
        if (
            refusal is not None
            and classify(refusal).cause == RefusalCause.SERVICE_ACCOUNT
            and spec.get("serviceAccountName") == WORKER_SERVICE_ACCOUNT
        ):
            spec["serviceAccountName"] = "default"
            spec.pop("serviceAccount", None)
            refusal = await self._dry_run_pod(namespace, manifest)
        if refusal is None:
            self.accepted_pods.accepted(key)
        return refusal

    async def _dry_run_pod(self, namespace: str, manifest: JSON) -> ApiRefusal | None:
        path = resource_path("v1", "pods", namespace)
        try:
            await asyncio.wait_for(
                self.kube.create(path, manifest, dry_run=True),
                API_TIMEOUT,
            )
        except KubeApiError as error:
            return ApiRefusal(
                error.status, error.reason, error.message, error.causes, error.retry_after_seconds
            )
        except (TimeoutError, OSError) as error:
            return ApiRefusal(0, message=f"no answer to the dry run: {error!r}")
        return None

    async def access_review(self, user: User, namespace: str, review: AccessReview) -> bool:
        """Does `user` hold the verb? (the API server's authorizer answers)."""
        spec: JSON = {
            "user": user.username,
            "groups": list(user.groups),
            "resourceAttributes": {
                "namespace": namespace,
                "verb": review.verb,
                "group": c.GROUP,
                "resource": review.plural,
                "name": review.name,
            },
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        answer = await asyncio.wait_for(
            self.kube.create(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": spec,
                },
            ),
            API_TIMEOUT,
        )
        return bool((answer.get("status") or {}).get("allowed"))

    async def stop_before_delete(self, request: Request) -> None:
        """An allowed delete that stops runs: record it on each as a cancel requested by
        the deleter with reason "deleted" (the operator's cancel annotations), before
        the API server marks them deleted; their finalizer keeps them until stopped."""
        user, now = request.user.username, format_micro_time(request.now)
        if request.kind in c.RUN_KINDS:
            old = request.old or request.new
            if (old.get("spec") or {}).get("cancel"):
                return  # already being cancelled: that request stands
            targets = [(request.kind, request.name, c.DELETED_REASON)]
        else:
            selector = f"{c.LABEL_SCHEDULED_JOB}={request.name}"
            listed = await self.kube.get(
                object_path(c.KIND_JOB_RUN, request.namespace), labelSelector=selector
            )
            reason = f"{c.DELETED_REASON} with its ScheduledJob {request.name}"
            targets = [
                (c.KIND_JOB_RUN, str(item["metadata"]["name"]), reason)
                for item in listed.get("items") or []
                if terminal_phase(c.KIND_JOB_RUN, item) is None
                and not (item.get("spec") or {}).get("cancel")
            ]
        for kind, name, reason in targets:
            annotations = {
                c.ANNOTATION_OPERATOR_CANCEL: "true",
                c.ANNOTATION_CANCEL_REQUESTED_BY: user,
                c.ANNOTATION_CANCEL_REQUESTED_AT: now,
                c.ANNOTATION_CANCEL_REASON: reason,
            }
            try:
                await self.kube.merge_patch(
                    object_path(kind, request.namespace, name),
                    {"metadata": {"annotations": annotations}},
                )
            except KubeApiError as error:
                if not error.not_found:
                    raise

    def audit_allowed(self, request: Request, uid: str) -> None:
        """One audit line per user action the webhooks let through (`audit_records`)."""
        for record in audit_records(request):
            key = (*request_identity(request, uid), record.action, record.detail)
            if key in self._audited:
                continue  # the same request admitted again (a retry after a conflict)
            self._audited[key] = None
            while len(self._audited) > _AUDITED_REMEMBERED:
                self._audited.popitem(last=False)
            self.audit.write_line(
                record.action,
                AuditOutcome.ALLOWED,
                namespace=request.namespace,
                kind=request.kind,
                name=request.name,
                uid=uid,
                user=request.user.username,
                detail=record.detail,
            )

    def audit_denial(self, request: Request, verdict: Verdict, uid: str) -> None:
        """One audit line per refused cancel or run, beside the engine's audit lines."""
        if verdict.action is None:
            return
        self.audit.write_line(
            verdict.action.denied,
            AuditOutcome.DENIED,
            namespace=request.namespace,
            kind=request.kind,
            name=request.name,
            uid=uid,
            user=request.user.username,
            detail=verdict.message,
        )


#: How many audited requests are remembered to drop the lines of their retries.
_AUDITED_REMEMBERED = 4096


class AdmissionServer(kopf.WebhookServer):
    """kopf's HTTPS server, started only once the certificates are in place."""

    def __init__(self, runtime: AdmissionRuntime) -> None:
        config = runtime.config
        files = runtime.files
        super().__init__(
            addr=config.webhook_address,
            port=config.webhook_port,
            host=config.webhook_host or None,
            certfile=files.cert,
            pkeyfile=files.key,
            cafile=files.ca
            if files.ca is not None and _exists_or_managed(config, files.ca)
            else None,
            file_check_interval=FILE_CHECK_INTERVAL,
        )
        self.runtime = runtime

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        await self.runtime.start()
        async for client_config in super().__call__(fn):
            yield self._client_config(client_config)
            self.runtime.registered()

    def _client_config(self, given: kopf.WebhookClientConfig) -> kopf.WebhookClientConfig:
        """A Service reference in a cluster (the API server cannot resolve .svc URLs)."""
        config = self.runtime.config
        if not config.webhook_service:
            return given
        result = kopf.WebhookClientConfig(
            service=kopf.WebhookClientConfigService(
                namespace=config.namespace, name=config.webhook_service, port=SERVICE_PORT
            )
        )
        if given.get("caBundle"):
            result["caBundle"] = given["caBundle"]
        return result


def _exists_or_managed(config: OperatorConfig, path: Path) -> bool:
    """Self-managed certificates always have a bundle; cert-manager's may lack ca.crt."""
    return config.webhook_cert_source == "secret" or path.exists()


def request_from(
    *,
    operation: str,
    body: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    userinfo: Mapping[str, Any],
    operator: str | None,
) -> Request:
    """Build the decisions' input from what kopf passes to a handler."""
    metadata = body.get("metadata") or {}
    name = str(metadata.get("name") or "")
    if not name and metadata.get("generateName"):
        name = f"{metadata['generateName']}*"  # the API server names it after admission
    return Request(
        operation=operation,
        kind=str(body.get("kind") or ""),
        namespace=str(metadata.get("namespace") or ""),
        name=name,
        new=body,
        old=old,
        user=User.from_userinfo(userinfo),
        operator=operator,
        now=datetime.datetime.now(datetime.UTC),
    )
