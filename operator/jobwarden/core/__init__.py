"""Pure decision logic: functions of (spec, status, observed children, now).

Nothing in this package performs I/O, reads the clock or imports kopf or the
Kubernetes client; the engine gathers inputs, calls it, and applies the plan.
"""
