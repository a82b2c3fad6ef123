"""One schema: the typed dicts core reads and writes (`api.shapes`) have exactly the
fields of the pydantic models the CRDs are generated from."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest
from pydantic import BaseModel

from jobwarden.api import shapes
from jobwarden.api.backfill import BackfillSpec, BackfillStatus, SkippedFire
from jobwarden.api.common import Condition, LogEntry
from jobwarden.api.export import ExportStatus
from jobwarden.api.jobrun import JobRunStatus, Snapshot
from jobwarden.api.runstatus import Attempt, Cancellation, QueueInfo
from jobwarden.api.scheduledjob import (
    ActiveRun,
    FailurePause,
    MissedRunSettings,
    RunSummary,
    ScheduledJobSpec,
    ScheduledJobStatus,
)
from jobwarden.api.settings import RetryBackoff, RunSettings
from jobwarden.api.workerquota import QueuedByPriority, WorkerQuotaStatus


def _wire_names(*models: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for model in models:
        names |= {field.alias or name for name, field in model.model_fields.items()}
    return names


PAIRS: list[tuple[Any, tuple[type[BaseModel], ...]]] = [
    (shapes.RetryBackoffSpec, (RetryBackoff,)),
    (shapes.RunSettingsSpec, (RunSettings,)),
    (shapes.MissedRunSpec, (MissedRunSettings,)),
    (shapes.ScheduledJobSpecDict, (ScheduledJobSpec,)),
    (shapes.ConditionDict, (Condition,)),
    (shapes.LogEntryDict, (LogEntry,)),
    (shapes.QueueDict, (QueueInfo,)),
    (shapes.AttemptDict, (Attempt,)),
    (shapes.CancellationDict, (Cancellation,)),
    (shapes.SnapshotDict, (Snapshot,)),
    (shapes.RunStatusDict, (JobRunStatus, ExportStatus)),
    (shapes.ActiveRunDict, (ActiveRun,)),
    (shapes.RunSummaryDict, (RunSummary,)),
    (shapes.ScheduledJobStatusDict, (ScheduledJobStatus,)),
    (shapes.QueuedByPriorityDict, (QueuedByPriority,)),
    (shapes.WorkerQuotaStatusDict, (WorkerQuotaStatus,)),
    (shapes.FailurePauseDict, (FailurePause,)),
    (shapes.BackfillSpecDict, (BackfillSpec,)),
    (shapes.SkippedFireDict, (SkippedFire,)),
    (shapes.BackfillStatusDict, (BackfillStatus,)),
]


@pytest.mark.parametrize(("shape", "models"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_a_shape_has_the_fields_of_its_model(shape: Any, models: tuple[type[BaseModel]]) -> None:
    assert set(get_type_hints(shape)) == _wire_names(*models)


def test_the_run_setting_keys_are_the_models() -> None:
    assert set(shapes.RUN_SETTING_KEYS) == _wire_names(RunSettings)
    assert len(shapes.RUN_SETTING_KEYS) == len(set(shapes.RUN_SETTING_KEYS))


def test_the_check_sees_a_missing_field() -> None:
    """The check can fail: a model field the shape lacks is found."""

    class Lacking(shapes.RetryBackoffSpec, total=False):
        extra: int

    assert set(get_type_hints(Lacking)) != _wire_names(RetryBackoff)
