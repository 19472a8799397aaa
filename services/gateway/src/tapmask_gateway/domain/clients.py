"""Who is asking: addresses defined once in ``tapmask_runtime.clients`` (the notifier counts
its streams' clients the same way), and the client a request is counted against."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from tapmask_gateway.domain.quotas import Tier
from tapmask_gateway.domain.records import ApiKey
from tapmask_runtime.clients import Network, address_key, client_address, parse_networks

__all__ = ["Client", "Network", "address_key", "client_address", "parse_networks"]


@dataclass(frozen=True, slots=True)
class Client:
    """Who a request is counted against."""

    ip: str
    tier: Tier
    api_key: ApiKey | None = None
    #: Keys the address in ``subject`` (the gateway's secret): the subject is stored with
    #: uploads and in the month's usage rows, which outlive a free job's 24 h retention, so
    #: it must not be the address itself (issue 9: client IPs kept for a month).
    pepper: bytes = b""

    @property
    def subject(self) -> str:
        if self.api_key:
            return f"key:{self.api_key.id}"
        where = address_key(self.ip)
        if not self.pepper:
            return f"ip:{where}"
        return "ip:" + hmac.new(self.pepper, where.encode(), hashlib.sha256).hexdigest()[:32]
