"""Job access tokens, stateless: the gateway issues them, the notifier checks them.

token = urlsafe base64 (no padding) of HMAC-SHA256(TAPMASK_TOKEN_SECRET, str(job_id)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID


def job_token(secret: str, job_id: UUID) -> str:
    digest = hmac.new(secret.encode(), str(job_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(secret: str, job_id: UUID, presented: str | None) -> bool:
    """Constant-time comparison; a padded token is accepted too."""
    if not presented:
        return False
    expected = job_token(secret, job_id).encode()
    return hmac.compare_digest(expected, presented.rstrip("=").encode())
