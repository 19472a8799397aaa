"""The gateway's use cases: plain code over ports (``ports.py``), free of Litestar, asyncpg
and S3; the controllers call them, the adapters implement their ports."""
