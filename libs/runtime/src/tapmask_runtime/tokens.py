"""Job access tokens, stateless: the gateway issues them, the notifier checks them, and both
read them from a request the same way.

token = urlsafe base64 (no padding) of HMAC-SHA256(TAPMASK_TOKEN_SECRET, str(job_id)).

Stateless so the notifier checks a token without a database. Defined once here because the
two services' copies had drifted: the notifier accepted a padded token, the gateway did not,
so one URL opened the event stream and was refused the job it streamed.
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
    """Constant-time check, so timing does not leak how much of a guess was right; a padded
    token (base64 as some clients re-encode it) is accepted too."""
    if not presented:
        return False
    expected = job_token(secret, job_id).encode()
    return hmac.compare_digest(expected, presented.rstrip("=").encode())


def bearer_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token from ``Authorization: Bearer ...``, else from ``?token=`` (a browser's
    EventSource cannot set headers)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return query_token or None
