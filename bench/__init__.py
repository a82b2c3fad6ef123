"""jobwarden benchmarks: the operator against Kubernetes' own CronJob and Job controllers
on the local control plane (see docs/performance.md and issue 9).

`python -m bench` (or `make bench`) runs every scenario with the issue's parameters;
`python -m bench --quick` (`make bench-quick`) runs them small, in under 5 minutes.
"""
