# launch_type EC2 only: the container instances that can give the task /dev/net/tun,
# NET_ADMIN and SYS_ADMIN for kernel Tailscale and kernel NFS mounts.

data "aws_ssm_parameter" "ecs_ami" {
  count = local.ec2 ? 1 : 0
  name  = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

resource "aws_launch_template" "agent" {
  count                  = local.ec2 ? 1 : 0
  name_prefix            = "${local.name}-"
  image_id               = nonsensitive(data.aws_ssm_parameter.ecs_ami[0].value)
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances[0].id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance[0].arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 30
      volume_type = "gp3"
      encrypted   = true
    }
  }

  # Load the tun and NFS client modules the container cannot load itself; keep tasks off the
  # instance role (IMDS) so they only ever hold the task role.
  user_data = base64encode(<<-EOT
    #!/bin/bash
    modprobe -a tun nfs nfsv3 nfsv4
    cat >>/etc/ecs/ecs.config <<CFG
    ECS_CLUSTER=${aws_ecs_cluster.agent.name}
    ECS_AWSVPC_BLOCK_IMDS=true
    CFG
  EOT
  )
}

resource "aws_autoscaling_group" "agent" {
  count                 = local.ec2 ? 1 : 0
  name_prefix           = "${local.name}-"
  vpc_zone_identifier   = var.private_subnet_ids
  min_size              = 1
  max_size              = 2 * var.max_tasks # room for old and new tasks during a deploy
  protect_from_scale_in = true              # ECS decides which instances may go

  launch_template {
    id      = aws_launch_template.agent[0].id
    version = aws_launch_template.agent[0].latest_version
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  lifecycle {
    ignore_changes = [desired_capacity] # owned by the capacity provider's managed scaling
  }
}

resource "aws_ecs_capacity_provider" "agent" {
  count = local.ec2 ? 1 : 0
  name  = local.name

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.agent[0].arn
    managed_termination_protection = "ENABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "agent" {
  count              = local.ec2 ? 1 : 0
  cluster_name       = aws_ecs_cluster.agent.name
  capacity_providers = [aws_ecs_capacity_provider.agent[0].name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.agent[0].name
    weight            = 1
  }
}

# Deployments made before launch_type keep their EC2 resources at the new addresses.
moved {
  from = aws_launch_template.agent
  to   = aws_launch_template.agent[0]
}

moved {
  from = aws_autoscaling_group.agent
  to   = aws_autoscaling_group.agent[0]
}

moved {
  from = aws_ecs_capacity_provider.agent
  to   = aws_ecs_capacity_provider.agent[0]
}

moved {
  from = aws_ecs_cluster_capacity_providers.agent
  to   = aws_ecs_cluster_capacity_providers.agent[0]
}
