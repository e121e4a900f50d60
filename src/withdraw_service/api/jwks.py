"""An identity provider's published signing keys (`WITHDRAW_JWT_JWKS_URL`), fetched with httpx
and kept for a while; a token naming a key id not seen yet makes one fetch (at most one per
`min_refetch_seconds`, so forged key ids cannot make us hammer the provider).

Only RS256 and ES256 keys are used; a token must name its key (`kid`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from withdraw_service.domain.errors import TemporarilyUnavailable, Unauthenticated

log = logging.getLogger(__name__)
USABLE = frozenset({"RS256", "ES256"})


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client | None = None,
        timeout_seconds: float = 5.0,
        refresh_seconds: float = 3600.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._refresh = refresh_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that answered
        self._tried_at: float | None = None  # the last fetch, answered or not
        self._lock = threading.Lock()

    def key_for(self, token: str) -> Any:
        """The public key the token names; `Unauthenticated` when there is none such."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or algorithm not in USABLE:
            raise Unauthenticated("invalid token")
        with self._lock:
            key = self._keys.get(kid)
            if (key is None or self._stale()) and self._may_fetch():
                self._fetch()
                key = self._keys.get(kid)
            if key is None and self._fetched_at is None:  # never had the keys
                raise TemporarilyUnavailable("the identity provider's keys could not be fetched")
        if key is None or key.algorithm_name != algorithm:
            raise Unauthenticated("invalid token")
        return key.key

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._refresh

    def _may_fetch(self) -> bool:
        """At most one fetch per `min_refetch` seconds, answered or not: neither forged key ids
        nor a provider that is down make every request wait on another fetch."""
        return self._tried_at is None or self._clock() - self._tried_at >= self._min_refetch

    def _fetch(self) -> None:
        self._tried_at = self._clock()
        try:
            response = self._client.get(self._url)
            response.raise_for_status()
            published = PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("identity provider's keys not fetched: %s", type(exc).__name__)
            return  # keep the keys we have (if any); try again after min_refetch
        self._keys = {
            key.key_id: key for key in published.keys if key.key_id and key.algorithm_name in USABLE
        }
        self._fetched_at = self._clock()
