# What deploy/k8s/overlays/aws and the Secret need (deploy/README.md).
output "region" {
  value = var.region
}

output "cluster_name" {
  value = aws_eks_cluster.main.name
}

output "kafka_bootstrap_brokers_sasl_scram" {
  description = "TAPMASK_KAFKA__BOOTSTRAP_SERVERS"
  value       = aws_msk_cluster.main.bootstrap_brokers_sasl_scram
}

output "kafka_credentials_secret" {
  description = "Secrets Manager secret holding the SCRAM username/password (TAPMASK_KAFKA__SASL_*)"
  value       = aws_secretsmanager_secret.kafka.name
}

output "database_endpoint" {
  description = "Host:port of PostgreSQL for TAPMASK_DATABASE__URL"
  value       = aws_db_instance.main.endpoint
}

output "database_password_secret" {
  description = "Secrets Manager secret holding the database password (managed by RDS)"
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "data_bucket" {
  description = "TAPMASK_S3__BUCKET"
  value       = aws_s3_bucket.this["data"].bucket
}

output "models_bucket" {
  description = "TAPMASK_TRACKER__MODELS_BUCKET"
  value       = aws_s3_bucket.this["models"].bucket
}

output "irsa_role_arns" {
  description = "eks.amazonaws.com/role-arn of each service account"
  value       = { for k, r in aws_iam_role.service : k => r.arn }
}

output "cluster_autoscaler_role_arn" {
  value = aws_iam_role.autoscaler.arn
}
