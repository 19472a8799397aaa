"""The running system of test_full_job.py (`system`), shared with the browser tests."""

from test_full_job import system  # noqa: F401 (a pytest fixture)
