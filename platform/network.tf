# The VPC and subnets are inputs; this file only adds the two security groups.

resource "aws_security_group" "agent" {
  name        = "${local.name}-agent"
  description = "Agent tasks: no inbound; outbound to Tailscale, NFS peers, AWS APIs and Aurora."
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "agent_all" {
  security_group_id = aws_security_group.agent.id
  description       = "Tailscale (UDP 41641, DERP 443), ECR, S3, Secrets Manager, Aurora"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "Aurora: PostgreSQL from the agent security group only."
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_agent" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the agent tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.agent.id
}

# EC2 container instances (launch_type EC2): no inbound; outbound for the ECS agent, ECR and SSM.
resource "aws_security_group" "instances" {
  count       = local.ec2 ? 1 : 0
  name        = "${local.name}-instances"
  description = "ECS container instances of the agent cluster."
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "instances_all" {
  count             = local.ec2 ? 1 : 0
  security_group_id = aws_security_group.instances[0].id
  description       = "ECS control plane, ECR, SSM"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

moved {
  from = aws_security_group.instances
  to   = aws_security_group.instances[0]
}

moved {
  from = aws_vpc_security_group_egress_rule.instances_all
  to   = aws_vpc_security_group_egress_rule.instances_all[0]
}
