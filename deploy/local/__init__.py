"""Local launchers for Kafka, PostgreSQL and SeaweedFS S3 (see stack.py)."""
