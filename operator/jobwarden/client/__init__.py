"""What the kubectl plugin's commands (`cli/`) and the web dashboard (`dashboard/`)
share: the user's API client, the facts read from jobwarden objects, the access
reviews, and the actions (cancel, run now, pause and resume, re-run).

Both front ends import this package; neither imports the other (import-linter's
independence contract in pyproject.toml). Like them, it carries none of the operator.
"""
