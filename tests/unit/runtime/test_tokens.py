"""Job tokens as the gateway issues them and both it and the notifier check them."""

from __future__ import annotations

from uuid import uuid4

from tapmask_gateway.domain.tokens import token_hash
from tapmask_runtime.tokens import bearer_token, job_token, token_matches


def test_a_token_opens_its_own_job_only() -> None:
    a, b = uuid4(), uuid4()
    token = job_token("secret", a)
    assert token_matches("secret", a, token)
    assert not token_matches("secret", b, token)
    assert not token_matches("other-secret", a, token)
    assert not token_matches("secret", a, None)
    assert not token_matches("secret", a, token[:-1])


def test_a_padded_token_opens_the_job_too() -> None:
    # The gateway refused what the notifier accepted while each had its own copy.
    job = uuid4()
    token = job_token("secret", job)
    assert token_matches("secret", job, token + "=")
    assert not token_matches("secret", job, token[:-1] + "=")


def test_the_token_is_url_safe_and_stable() -> None:
    job = uuid4()
    token = job_token("s", job)
    assert token == job_token("s", str(job))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(token) == 43  # 32 bytes of HMAC-SHA256, base64 without padding


def test_the_header_wins_over_the_query() -> None:
    assert bearer_token("Bearer abc", "def") == "abc"
    assert bearer_token("bearer  abc ", None) == "abc"
    assert bearer_token(None, "def") == "def"
    assert bearer_token("Basic xyz", "def") == "def"
    # An empty bearer header no longer hides the query token (the notifier's old parser).
    assert bearer_token("Bearer ", "def") == "def"
    assert bearer_token(None, None) is None


def test_a_stored_hash_is_not_the_token() -> None:
    assert token_hash("tmk_abc") != "tmk_abc"
    assert len(token_hash("tmk_abc")) == 64
