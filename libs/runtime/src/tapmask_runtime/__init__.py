"""TapMask service plumbing shared by the services: settings groups, Kafka broker, S3 client,
JSON logs and Prometheus metrics. Import the submodule you need; nothing is built at import."""
