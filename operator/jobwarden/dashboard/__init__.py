"""The web dashboard (`kubectl jobwarden dashboard`): a local server on 127.0.0.1
that shows and drives jobwarden with the user's own kubeconfig identity.

See docs/dashboard.md. Heavy modules load only when the command runs.
"""

from __future__ import annotations

from jobwarden.dashboard.command import cmd_dashboard, main

__all__ = ["cmd_dashboard", "main"]
