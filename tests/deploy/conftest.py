"""Fixtures of the deploy tests (the helpers live in deploy_helpers.py)."""

from deploy_helpers import aws, rendered, terraform

__all__ = ["aws", "rendered", "terraform"]
