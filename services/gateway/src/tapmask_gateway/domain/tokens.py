"""Job access tokens: stateless, so the notifier can check them without a database.

token = urlsafe-base64 (no padding) of HMAC-SHA256(secret, str(job_id)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID


def job_token(secret: str, job_id: UUID | str) -> str:
    digest = hmac.new(secret.encode(), str(job_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(secret: str, job_id: UUID | str, presented: str | None) -> bool:
    """Constant-time check, so timing does not leak how much of a guess was right."""
    if not presented:
        return False
    return hmac.compare_digest(job_token(secret, job_id).encode(), presented.encode())


def token_hash(token: str) -> str:
    """What the database keeps of a token (or an API key): never the secret itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token from `Authorization: Bearer ...`, else from `?token=` (EventSource)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return query_token or None
