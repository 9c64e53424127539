"""How often and how patiently notices are retried, and how long a runner's claim on one lasts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from engine.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How often and how patiently notices are retried, and how long a claim lasts."""

    max_attempts: int = 8
    backoff: float = 60.0
    """Seconds to wait after the first failed attempt; doubled after each further one."""
    backoff_max: float = 3600.0
    jitter: float = 0.1
    """Up to this fraction of the delay is added, so notices that failed together spread out."""
    lease: float = 300.0
    """Seconds a claimed notice stays reserved for its runner before another may take it."""
    batch: int = 10

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff <= 0 or self.backoff_max < self.backoff or self.lease <= 0 \
                or not 0 <= self.jitter <= 1 or self.batch < 1:
            raise InvalidInput(f"bad delivery policy {self}: attempts and batch must be at least 1, backoff and "
                               "lease positive, backoff_max at least backoff, jitter between 0 and 1")

    def delay(self, attempts: int, message_id: str) -> timedelta:
        """How long to wait after failed attempt number ``attempts`` (1-based) of ``message_id``."""
        base = min(self.backoff * 2 ** max(0, attempts - 1), self.backoff_max)
        digest = hashlib.sha256(f"{message_id}:{attempts}".encode()).digest()
        spread = int.from_bytes(digest[:8], "big") / 2 ** 64
        return timedelta(seconds=base * (1 + self.jitter * spread))
