"""Pure gateway rules: job states, quotas, rate limits, tokens, request checks (no I/O)."""
