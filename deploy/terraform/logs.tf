# The log groups: the EKS control plane's (the name EKS writes to), the VPC flow log's and
# the Kafka brokers'. Each is kept a year and encrypted with the one key.
locals {
  log_groups = {
    eks   = "/aws/eks/${local.name}/cluster"
    flow  = "/tapmask/${var.environment}/vpc-flow"
    kafka = "/tapmask/${var.environment}/msk"
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.log_groups
  name              = each.value
  retention_in_days = 365
  kms_key_id        = aws_kms_key.main.arn
}

moved {
  from = aws_cloudwatch_log_group.eks
  to   = aws_cloudwatch_log_group.this["eks"]
}

moved {
  from = aws_cloudwatch_log_group.flow
  to   = aws_cloudwatch_log_group.this["flow"]
}

moved {
  from = aws_cloudwatch_log_group.kafka
  to   = aws_cloudwatch_log_group.this["kafka"]
}
