# Kafka: three brokers, one per zone; SASL/SCRAM over TLS (port 9096), as the services and
# KEDA's scaler log in (TAPMASK_KAFKA__SECURITY_PROTOCOL=SASL_SSL, SCRAM-SHA-512).
resource "aws_msk_configuration" "main" {
  name           = local.name
  kafka_versions = [var.kafka_version]
  # Producers use acks=all: two in-sync copies of every event before it counts as sent.
  # Topics are created by the services at start-up (partitions, replication, and a
  # retention of 22 h in 1 h segments: events hold users' clicks and must be gone within
  # the free tier's 24 h; TAPMASK_KAFKA__TOPIC_RETENTION_MS / _SEGMENT_MS). The broker's
  # defaults say the same for any topic made by hand.
  server_properties = <<-PROPS
    auto.create.topics.enable=false
    log.retention.ms=79200000
    log.roll.ms=3600000
    default.replication.factor=3
    min.insync.replicas=2
    unclean.leader.election.enable=false
  PROPS
}

resource "aws_msk_cluster" "main" {
  cluster_name           = local.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = 3
  broker_node_group_info {
    instance_type   = var.kafka_instance_type
    client_subnets  = aws_subnet.private[*].id
    security_groups = [aws_security_group.service["kafka"].id]
    storage_info {
      ebs_storage_info {
        volume_size = 100 # events are small: keys and ids, never video
      }
    }
  }
  configuration_info {
    arn      = aws_msk_configuration.main.arn
    revision = aws_msk_configuration.main.latest_revision
  }
  client_authentication {
    sasl {
      scram = true
    }
  }
  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.main.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }
  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.this["kafka"].name
      }
    }
  }
}

# The services' SCRAM user. MSK requires the secret's name to start with AmazonMSK_ and a
# customer-managed key. Its username/password go into the Kubernetes Secret tapmask-secrets.
resource "random_password" "kafka" {
  length  = 32
  special = false
}

resource "aws_secretsmanager_secret" "kafka" {
  #checkov:skip=CKV2_AWS_57:Rotation would need a rotation Lambda and a rolling restart with the new Kubernetes Secret; rotate by hand (deploy/README.md)
  name       = "AmazonMSK_${local.name}"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "kafka" {
  secret_id     = aws_secretsmanager_secret.kafka.id
  secret_string = jsonencode({ username = "tapmask", password = random_password.kafka.result })
}

resource "aws_msk_scram_secret_association" "main" {
  cluster_arn     = aws_msk_cluster.main.arn
  secret_arn_list = [aws_secretsmanager_secret.kafka.arn]
  depends_on      = [aws_secretsmanager_secret_version.kafka]
}
