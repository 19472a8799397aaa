# TapMask on AWS: network, S3, MSK, RDS PostgreSQL, EKS (on-demand system nodes, spot GPU
# nodes from zero) and one IAM role per service (IRSA). deploy/README.md walks through it.
#   terraform -chdir=deploy/terraform init && terraform -chdir=deploy/terraform apply
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # State: give it a backend of your own (S3 + lock), e.g. with -backend-config at init.
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "tapmask", environment = var.environment }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first three zones are used and a new zone sorts after them
  state = "available"
}

locals {
  name      = "tapmask-${var.environment}"
  azs       = slice(data.aws_availability_zones.available.names, 0, 3)
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
}
