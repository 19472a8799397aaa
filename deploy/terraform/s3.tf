# Two buckets. `data` holds every job's files under the prefixes the services use (one
# TAPMASK_S3__BUCKET): uploads/ (browser uploads), inputs/ (the gateway's pinned copy of
# each job's probed upload), masks/ (tracker), outputs/ (renderer), attempts/<service>/
# (crash-loop counts), cancelled/ (the marker of a job its owner cancelled: the gateway writes
# it, the workers read it); each service's role reaches only its prefixes
# (iam.tf). `models` holds the weights the tracker pulls at start-up.
locals {
  buckets = {
    data   = "${local.name}-data-${local.account}"
    models = "${local.name}-models-${local.account}"
  }
  # Every prefix of the data bucket, all expiring after the retention.
  data_prefixes = ["uploads/", "inputs/", "masks/", "outputs/", "attempts/", "cancelled/"]
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets
  bucket   = each.value
  # Findings of `checkov` (make test) left on purpose:
  #checkov:skip=CKV_AWS_21:No versioning on the data bucket: a deleted upload must be gone (privacy), not kept as a noncurrent version; the models bucket is versioned (aws_s3_bucket_versioning.models)
  #checkov:skip=CKV_AWS_144:No cross-region copy: job files live 7 days by design and the models are re-uploaded from their pinned sources
  #checkov:skip=CKV_AWS_18:No server access logs: they would keep every job's key and client IP past the retention; audit with CloudTrail data events where required
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 events: Kafka carries every job event
  #checkov:skip=CKV2_AWS_6:False positive of for_each: aws_s3_bucket_public_access_block.this blocks every bucket (tests/deploy/test_terraform.py checks it)
  #checkov:skip=CKV_AWS_145:False positive of for_each: aws_s3_bucket_server_side_encryption_configuration.this uses the KMS key for every bucket (tests/deploy/test_terraform.py checks it)
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs at all
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true # one KMS call per object batch, not per request
  }
}

# TLS only.
resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyPlainHttp"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [each.value.arn, "${each.value.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# The retention: a job's files are gone `retention_days` after they were written, whatever
# happened to the gateway's cleanup task. No versioning on this bucket: a deleted upload
# must really be gone (privacy), not kept as a noncurrent version.
resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.this["data"].id
  dynamic "rule" {
    for_each = local.data_prefixes
    content {
      id     = "expire-${trimsuffix(rule.value, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.retention_days
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }
}

# The weights are versioned: a bad upload can be rolled back; old versions go after 30 days.
resource "aws_s3_bucket_versioning" "models" {
  bucket = aws_s3_bucket.this["models"].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "models" {
  bucket = aws_s3_bucket.this["models"].id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.models]
}

# Browsers upload to and download from presigned URLs (set here, so the gateway's own
# start-up CORS call stays off: leave TAPMASK_UPLOAD_ORIGINS empty).
resource "aws_s3_bucket_cors_configuration" "data" {
  bucket = aws_s3_bucket.this["data"].id
  cors_rule {
    allowed_origins = var.web_origins
    allowed_methods = ["GET", "HEAD", "POST", "PUT"]
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}
