# A VPC over three zones: private subnets for nodes, MSK and RDS; public ones for the load
# balancer and one NAT gateway. S3 traffic goes through a gateway endpoint (free), not the NAT
# (0.048 $/GB): every job moves its video through S3 several times.
resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

# No rules: nothing may use the default security group.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
}

# The managed services' security groups (MSK, RDS): each lets in its one TCP port from
# inside the VPC, nothing else.
locals {
  service_ports = {
    kafka = {
      port        = 9096
      description = "MSK brokers: SASL/SCRAM over TLS from inside the VPC"
      rule        = "Kafka SASL_SSL from the VPC (pods, KEDA)"
    }
    db = {
      port        = 5432
      description = "PostgreSQL from inside the VPC (the gateway pods)"
      rule        = "PostgreSQL from the VPC"
    }
  }
}

resource "aws_security_group" "service" {
  for_each    = local.service_ports
  name        = "${local.name}-${each.key}"
  description = each.value.description
  vpc_id      = aws_vpc.main.id
  ingress {
    description = each.value.rule
    from_port   = each.value.port
    to_port     = each.value.port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

moved {
  from = aws_security_group.kafka
  to   = aws_security_group.service["kafka"]
}

moved {
  from = aws_security_group.db
  to   = aws_security_group.service["db"]
}

resource "aws_subnet" "private" {
  count             = 3
  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  tags = {
    Name                              = "${local.name}-private-${count.index}"
    "kubernetes.io/role/internal-elb" = "1"
  }
}

resource "aws_subnet" "public" {
  count             = 3
  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, 200 + count.index)
  tags = {
    Name                     = "${local.name}-public-${count.index}"
    "kubernetes.io/role/elb" = "1"
  }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id
}

resource "aws_eip" "nat" {
  domain = "vpc"
}

resource "aws_nat_gateway" "main" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[0].id
  depends_on    = [aws_internet_gateway.main]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }
}

resource "aws_route_table_association" "public" {
  count          = 3
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main.id
  }
}

resource "aws_route_table_association" "private" {
  count          = 3
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
}

resource "aws_flow_log" "main" {
  vpc_id               = aws_vpc.main.id
  traffic_type         = "REJECT" # what the security groups and NACLs stopped
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.this["flow"].arn
  iam_role_arn         = aws_iam_role.flow_log.arn
}

resource "aws_iam_role" "flow_log" {
  name               = "${local.name}-flow-log"
  assume_role_policy = local.service_trust["flow_log"]
}

resource "aws_iam_role_policy" "flow_log" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_log.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.this["flow"].arn}:*"
    }]
  })
}

# One customer-managed key for the buckets, MSK, RDS, EKS secrets and logs (rotated yearly).
resource "aws_kms_key" "main" {
  description         = "${local.name} data at rest"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdmin"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}
