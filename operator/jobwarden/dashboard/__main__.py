"""`python -m jobwarden.dashboard`."""

from __future__ import annotations

import sys

from jobwarden.dashboard.command import main

sys.exit(main())
