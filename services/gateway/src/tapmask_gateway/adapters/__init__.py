"""I/O at the edges: PostgreSQL, S3, Kafka, the probe subprocess."""
