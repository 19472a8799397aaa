"""TapMask's processing, with no servers: tracking (clicks to masks: the weight-free, learned
and SAM 2 trackers, faces), rendering (blur, pixelate, fill, erase), the streaming
pipelines over a video file, and the learned models' installation.

Used alike by the ``tapmask`` command line and by the tracker and renderer workers, which
only add Kafka, S3 and progress events around it (issue 11: the CLI once installed the
workers, Kafka and S3 clients included, to reach this code)."""
