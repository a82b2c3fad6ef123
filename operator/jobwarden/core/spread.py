"""Deterministic spreading: the hash behind `H` in cron fields and `jitterSeconds`.

Both must give the same answer in every replica and after every restart, and must not
change between versions (a changed hash would move every job's schedule), so they use
SHA-256 of fixed strings, never Python's `hash()` (randomised per process). The values
are pinned by tests/unit/test_spread.py.

* `H` in a field is `hashed(seed, field name, size)`: the seed is the ScheduledJob's
  `namespace/name`, and each field has its own salt, so the minute and the hour of
  `H H * * *` are independent.
* A fire's jitter is `hashed(seed, "jitter@<unix seconds of the fire>", bound)`:
  fixed per fire, different from fire to fire.
"""

from __future__ import annotations

import hashlib
from typing import Final

#: The bytes of the digest used: 64 bits, so `% size` is uniform to within 2**-50 for
#: every size used here (at most a day of seconds).
_DIGEST_BYTES: Final = 8


def hashed(seed: str, salt: str, size: int) -> int:
    """A number in [0, size) fixed by (seed, salt)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    digest = hashlib.sha256(f"{seed}\x00{salt}".encode()).digest()
    return int.from_bytes(digest[:_DIGEST_BYTES], "big") % size


def seed_of(namespace: str, name: str) -> str:
    """The seed of a ScheduledJob: `namespace/name` (what Jenkins hashes: the job's
    full name)."""
    return f"{namespace}/{name}"


def jitter_salt(fire_unix_seconds: int) -> str:
    """The salt of one fire's jitter."""
    return f"jitter@{fire_unix_seconds}"


__all__ = ["hashed", "jitter_salt", "seed_of"]
