variable "region" {
  description = "AWS region for everything."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Suffix of every name (prod, staging...)."
  type        = string
  default     = "prod"
}

variable "vpc_cidr" {
  description = "The VPC's range; deploy/k8s/base/networkpolicies.yaml allows it for the load balancer, probes and MSK/RDS."
  type        = string
  default     = "10.0.0.0/16"
}

variable "retention_days" {
  description = "Days after which uploads, masks, outputs and attempt counts expire in the data bucket: the longest retention a user has (the gateway's TAPMASK_QUOTAS__PRO_RETENTION_HOURS, 168 h, rounded up to days). The gateway's cleanup task deletes free-tier jobs (24 h) earlier; this rule catches whatever it missed."
  type        = number
  default     = 7
}

variable "web_origins" {
  description = "Browser origins that upload to and download from the data bucket with presigned URLs (its CORS rule), e.g. [\"https://tapmask.example.com\"]."
  type        = list(string)
  default     = ["https://tapmask.example.com"]
}

variable "cluster_version" {
  description = "EKS Kubernetes version (deploy/checks/validate_manifests.py validates the manifests against it)."
  type        = string
  default     = "1.33"
}

variable "cluster_endpoint_public_cidrs" {
  description = "Who may reach the Kubernetes API from the internet (your office or CI runners); empty: private endpoint only."
  type        = list(string)
  default     = []
}

variable "system_instance_types" {
  description = "On-demand nodes for the gateway, notifier, renderer and cluster add-ons."
  type        = list(string)
  default     = ["m7i.xlarge"]
}

variable "system_nodes" {
  description = "Size of the on-demand system node group."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 6 }
}

variable "gpu_instance_types" {
  description = "Spot GPU nodes for the tracker (one NVIDIA A10G each): several sizes, so a spot shortage of one does not stop tracking."
  type        = list(string)
  default     = ["g5.xlarge", "g5.2xlarge"]
}

variable "gpu_nodes_max" {
  description = "Most spot GPU nodes at once (KEDA scales the tracker to at most 8 replicas)."
  type        = number
  default     = 8
}

variable "kafka_instance_type" {
  description = "MSK broker size."
  type        = string
  default     = "kafka.m7g.large"
}

variable "kafka_version" {
  description = "MSK Kafka version."
  type        = string
  default     = "3.9.x"
}

variable "db_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "A standby in a second zone (doubles the database's cost)."
  type        = bool
  default     = true
}
