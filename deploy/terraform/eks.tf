# EKS with two managed node groups:
# - system: on-demand, always on; the gateway, notifier, renderer and the cluster's add-ons
#   (KEDA, the load balancer controller, the cluster autoscaler) — label tapmask.io/pool=system;
# - gpu: spot g5 (one A10G each) for the tracker only, from zero nodes; tainted so nothing
#   else lands there — label tapmask.io/pool=gpu, taints nvidia.com/gpu and tapmask.io/spot.
#   KEDA adds tracker replicas on Kafka lag; the pending pod makes the cluster autoscaler
#   start a node (the node-template tags below tell it what a node of an empty group offers).
#   Spot reclaims: EKS drains the node on the two-minute notice (managed spot node groups do
#   this themselves); the tracker's grace covers it (deploy/README.md).
resource "aws_iam_role" "cluster" {
  name               = "${local.name}-cluster"
  assume_role_policy = local.service_trust["cluster"]
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "main" {
  name     = local.name
  version  = var.cluster_version
  role_arn = aws_iam_role.cluster.arn
  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = length(var.cluster_endpoint_public_cidrs) > 0
    public_access_cidrs     = length(var.cluster_endpoint_public_cidrs) > 0 ? var.cluster_endpoint_public_cidrs : null
  }
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.main.arn
    }
  }
  access_config {
    authentication_mode = "API"
  }
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  depends_on                = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.this["eks"]]
}

# The OIDC issuer that lets pods' service accounts assume IAM roles (IRSA, iam.tf).
resource "aws_iam_openid_connect_provider" "eks" {
  url            = aws_eks_cluster.main.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
}

# The VPC CNI enforces the NetworkPolicies of deploy/k8s.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name         = aws_eks_cluster.main.name
  addon_name           = "vpc-cni"
  configuration_values = jsonencode({ enableNetworkPolicy = "true" })
}

resource "aws_eks_addon" "coredns" {
  cluster_name = aws_eks_cluster.main.name
  addon_name   = "coredns"
  depends_on   = [aws_eks_node_group.system]
}

resource "aws_eks_addon" "kube_proxy" {
  cluster_name = aws_eks_cluster.main.name
  addon_name   = "kube-proxy"
}

resource "aws_iam_role" "node" {
  name               = "${local.name}-node"
  assume_role_policy = local.service_trust["node"]
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# Pods must not borrow the node's role through the instance metadata service: one hop only.
resource "aws_launch_template" "node" {
  for_each = { system = 50, gpu = 100 } # GiB of root disk: images + each job's 20 GiB scratch
  name     = "${local.name}-${each.key}"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = each.value
      volume_type = "gp3"
      encrypted   = true
      kms_key_id  = aws_kms_key.main.arn
    }
  }
}

resource "aws_eks_node_group" "system" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "system"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.private[*].id
  capacity_type   = "ON_DEMAND"
  instance_types  = var.system_instance_types
  ami_type        = "AL2023_x86_64_STANDARD"
  scaling_config {
    min_size     = var.system_nodes.min
    desired_size = var.system_nodes.desired
    max_size     = var.system_nodes.max
  }
  launch_template {
    id      = aws_launch_template.node["system"].id
    version = aws_launch_template.node["system"].latest_version
  }
  labels = { "tapmask.io/pool" = "system" }
  update_config {
    max_unavailable = 1
  }
  depends_on = [aws_iam_role_policy_attachment.node]
}

locals {
  gpu_labels = { "tapmask.io/pool" = "gpu" }
  gpu_taints = [
    { key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" },
    { key = "tapmask.io/spot", value = "true", effect = "NO_SCHEDULE" },
  ]
}

resource "aws_eks_node_group" "gpu" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "gpu-spot"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.private[*].id
  capacity_type   = "SPOT"
  instance_types  = var.gpu_instance_types
  ami_type        = "AL2023_x86_64_NVIDIA" # driver and the NVIDIA device plugin's needs
  scaling_config {
    min_size     = 0
    desired_size = 0
    max_size     = var.gpu_nodes_max
  }
  launch_template {
    id      = aws_launch_template.node["gpu"].id
    version = aws_launch_template.node["gpu"].latest_version
  }
  labels = local.gpu_labels
  dynamic "taint" {
    for_each = local.gpu_taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }
  update_config {
    max_unavailable = 1
  }
  # The autoscaler sets the size; Terraform must not put it back to 0 on the next apply.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }
  depends_on = [aws_iam_role_policy_attachment.node]
}

# An empty group has no node to look at: these tags tell the cluster autoscaler the labels,
# taints and GPU a new node would have, so a pending tracker pod can start the first one.
locals {
  gpu_node_template_tags = merge(
    { for k, v in local.gpu_labels : "k8s.io/cluster-autoscaler/node-template/label/${k}" => v },
    { for t in local.gpu_taints : "k8s.io/cluster-autoscaler/node-template/taint/${t.key}" => "${t.value}:NoSchedule" },
    { "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" = "1" },
  )
}

resource "aws_autoscaling_group_tag" "gpu_node_template" {
  for_each               = local.gpu_node_template_tags
  autoscaling_group_name = aws_eks_node_group.gpu.resources[0].autoscaling_groups[0].name
  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}
