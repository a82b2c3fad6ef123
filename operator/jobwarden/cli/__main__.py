"""`python -m jobwarden.cli`: the same as `kubectl jobwarden`."""

from jobwarden.cli import main

raise SystemExit(main())
