# One IAM role per service account (IRSA), each with only the S3 access its code uses:
#
#   gateway  : uploads/ read+write+delete (presigned uploads are signed with its rights,
#              probing reads them, cleanup deletes them); inputs/ read+write+delete (the
#              job's pinned copy of the probed upload); masks/ and outputs/ read+delete
#              (presigned downloads, cleanup); attempts/ delete (an expired job's crashed
#              stages' start counts). No models bucket.
#   tracker  : inputs/ read; masks/ read+write; attempts/tracker/ read+write+delete;
#              the models bucket read. Never uploads/ (a presigned POST can still change them).
#   renderer : inputs/ and masks/ read; outputs/ read+write; attempts/renderer/
#              read+write+delete.
#   cancelled/ : a job's cancel marker, written and deleted by the gateway, read by both
#              workers before a stage and at every progress tick.
#   notifier : no role (it touches no AWS API).
#
# s3:ListBucket on the data bucket is given to all three without a prefix condition: it
# reveals only key names (job ids), and without it S3 answers 403 instead of 404 for a
# missing object, which the services must tell apart (a missing input fails the job for
# good; an access error is retried).
locals {
  oidc_issuer = replace(aws_eks_cluster.main.identity[0].oidc[0].issuer, "https://", "")
  namespace   = "tapmask" # deploy/k8s/base/kustomization.yaml
  data_arn    = aws_s3_bucket.this["data"].arn
  models_arn  = aws_s3_bucket.this["models"].arn

  # The S3 action each verb of s3_access grants on the data bucket, and its statement's id.
  s3_verbs = {
    read   = { sid = "ReadOwnPrefixes", action = "s3:GetObject" }
    write  = { sid = "WriteOwnPrefixes", action = "s3:PutObject" }
    delete = { sid = "DeleteOwnPrefixes", action = "s3:DeleteObject" }
  }

  # The Kubernetes service account ("namespace:name") that may assume each role (IRSA):
  # each service's own, and the cluster autoscaler's. One trust policy serves them all.
  irsa_accounts = merge(
    { for service in keys(local.s3_access) : service => "${local.namespace}:${service}" },
    { autoscaler = "kube-system:cluster-autoscaler" },
  )

  s3_access = {
    gateway = {
      read   = ["uploads/*", "inputs/*", "masks/*", "outputs/*"]
      write  = ["uploads/*", "inputs/*", "cancelled/*"]
      delete = ["uploads/*", "inputs/*", "masks/*", "outputs/*", "attempts/*", "cancelled/*"]
      models = false
    }
    tracker = {
      read   = ["inputs/*", "masks/*", "attempts/tracker/*", "cancelled/*"]
      write  = ["masks/*", "attempts/tracker/*"]
      delete = ["attempts/tracker/*"]
      models = true
    }
    renderer = {
      read   = ["inputs/*", "masks/*", "outputs/*", "attempts/renderer/*", "cancelled/*"]
      write  = ["outputs/*", "attempts/renderer/*"]
      delete = ["attempts/renderer/*"]
      models = false
    }
  }
}

# The trust policy of each role an AWS service takes on (the EKS control plane, the nodes,
# the VPC flow log, RDS enhanced monitoring): the service and what it may do with the role.
locals {
  trusted_services = {
    cluster        = { service = "eks.amazonaws.com", action = ["sts:AssumeRole", "sts:TagSession"] }
    node           = { service = "ec2.amazonaws.com", action = "sts:AssumeRole" }
    flow_log       = { service = "vpc-flow-logs.amazonaws.com", action = "sts:AssumeRole" }
    rds_monitoring = { service = "monitoring.rds.amazonaws.com", action = "sts:AssumeRole" }
  }
  service_trust = {
    for role, trust in local.trusted_services : role => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Service = trust.service }
        Action    = trust.action
      }]
    })
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.irsa_accounts
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "s3" {
  for_each = local.s3_access
  dynamic "statement" {
    for_each = local.s3_verbs
    content {
      sid       = statement.value.sid
      actions   = [statement.value.action]
      resources = [for p in each.value[statement.key] : "${local.data_arn}/${p}"]
    }
  }
  statement {
    sid       = "ListForNotFound"
    actions   = ["s3:ListBucket"]
    resources = [local.data_arn]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  dynamic "statement" {
    for_each = each.value.models ? [1] : []
    content {
      sid       = "ReadModels"
      actions   = ["s3:GetObject", "s3:ListBucket"]
      resources = [local.models_arn, "${local.models_arn}/*"]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each           = local.s3_access
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
}

resource "aws_iam_role_policy" "service" {
  for_each = local.s3_access
  name     = "s3"
  role     = aws_iam_role.service[each.key].id
  policy   = data.aws_iam_policy_document.s3[each.key].json
}

# The cluster autoscaler (kube-system/cluster-autoscaler) grows and shrinks the node groups
# of this cluster only.
data "aws_iam_policy_document" "autoscaler" {
  #checkov:skip=CKV_AWS_356:Describe* calls take no resource; scaling is limited to this cluster's groups by their owned tag
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
      "eks:DescribeNodegroup",
    ]
    resources = ["*"] # Describe* calls take no resource
  }
  statement {
    sid       = "ScaleOwnGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${local.name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role" "autoscaler" {
  name               = "${local.name}-cluster-autoscaler"
  assume_role_policy = data.aws_iam_policy_document.assume["autoscaler"].json
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "autoscale"
  role   = aws_iam_role.autoscaler.id
  policy = data.aws_iam_policy_document.autoscaler.json
}
