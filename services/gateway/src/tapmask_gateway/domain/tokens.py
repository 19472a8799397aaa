"""Job access tokens (defined once, for the notifier too, in tapmask_runtime.tokens) and what
the gateway's database keeps of a token or an API key."""

from __future__ import annotations

import hashlib

from tapmask_runtime.tokens import bearer_token, job_token, token_matches

__all__ = ["bearer_token", "job_token", "token_hash", "token_matches"]


def token_hash(token: str) -> str:
    """What the database keeps of a token (or an API key): never the secret itself."""
    return hashlib.sha256(token.encode()).hexdigest()
