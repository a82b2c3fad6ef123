"""jobwarden's worker SDK: what a job needs to honour the worker contract.

- `run_job(main)` runs `main(ctx)` with SIGTERM turned into a cancellation token,
  cleanup callbacks, exit codes 0 / 143 / 1 and a one-line termination message;
- `RunContext.units()` iterates units of work and stops between them once cancelled;
- `RunContext.progress()` reports progress into the run's `status.progress`
  (throttled, at most about one write per second; it doubles as the heartbeat).

See docs/worker-sdk.md. The built-in export worker (`python -m jobwarden.worker.export`)
is written with it.
"""

from jobwarden.worker.context import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_KILLED,
    EXIT_SUCCEEDED,
    CancellationToken,
    Cancelled,
    Outcome,
    RunContext,
    run,
    run_job,
)
from jobwarden.worker.progress import RunIdentity

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_KILLED",
    "EXIT_SUCCEEDED",
    "CancellationToken",
    "Cancelled",
    "Outcome",
    "RunContext",
    "RunIdentity",
    "run",
    "run_job",
]
