"""Faults on demand, so tests and benchmarks meet what a production API server throws.

Configured at start-up (``tether cluster up --fault-…``), from Python (``app.faults``) or at run
time by the admin user through ``PUT /tether/v1/faults`` with the JSON form of
:class:`FaultConfig`. Faults apply to resource requests only; discovery and ``/version`` stay
healthy, as they do on a real server under load.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from tether.localcluster.apierrors import ApiError

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


@dataclass
class FaultConfig:
    #: fraction of requests answered with an error, per verb (get, list, watch, create, update,
    #: patch, delete, deletecollection); the key "write" stands for every writing verb
    error_rate: dict[str, float] = field(default_factory=dict)
    #: of the injected errors, the fraction that are 429 TooManyRequests (the rest are 500)
    throttle_share: float = 0.5
    #: Retry-After seconds sent with a 429
    retry_after: int = 1
    #: added latency for every resource request, in milliseconds
    latency_ms: float = 0.0
    #: watches are cut (the stream simply ends) after this many seconds; 0 = never
    watch_cut_seconds: float = 0.0
    #: the next N watches that ask for a resourceVersion get an in-stream 410 Expired
    force_410: int = 0
    #: seed for reproducible fault sequences (None = random)
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ApiError(
                400, "BadRequest", f"unknown fault settings: {', '.join(sorted(unknown))}"
            )
        try:
            config = cls(**data)
            for verb, rate in config.error_rate.items():
                if not 0.0 <= float(rate) <= 1.0:
                    raise ValueError(f"error rate for {verb} must be between 0 and 1")
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "BadRequest", f"invalid fault settings: {exc}") from exc
        return config

    def rate_for(self, verb: str) -> float:
        if verb in self.error_rate:
            return float(self.error_rate[verb])
        if verb in WRITE_VERBS and "write" in self.error_rate:
            return float(self.error_rate["write"])
        return 0.0

    def maybe_fail(self, verb: str, resource: str) -> None:
        """Raise the injected error for this request, if the dice say so."""
        rate = self.rate_for(verb)
        if rate <= 0 or self._random.random() >= rate:
            return
        if self._random.random() < self.throttle_share:
            raise ApiError(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
                {
                    "causes": [
                        {"reason": "UnexpectedServerResponse", "message": "injected throttling"}
                    ],
                    "retryAfterSeconds": self.retry_after,
                },
                headers={"Retry-After": str(self.retry_after)},
            )
        raise ApiError(
            500,
            "InternalError",
            f"Internal error occurred: injected fault on {verb} {resource}",
            {"causes": [{"message": f"injected fault on {verb} {resource}"}]},
        )

    def take_forced_410(self) -> bool:
        if self.force_410 > 0:
            self.force_410 -= 1
            return True
        return False
