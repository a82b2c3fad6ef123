"""Admission webhooks: who did what, and who may cancel or run what.

Importing this package registers the kopf handlers (`handlers`); the operator's
startup calls `configure_admission(settings, config, memo)` to serve them. The rules are
pure functions in `decisions`; certificates are created and rotated in `certs`.
See docs/access.md.
"""

from jobwarden.webhooks import handlers
from jobwarden.webhooks.handlers import configure_admission
from jobwarden.webhooks.runtime import CONFIGURATION_NAME, READY_LINE

__all__ = ["CONFIGURATION_NAME", "READY_LINE", "configure_admission", "handlers"]
