# ECS on EC2, not Fargate: the kernel NFS mounts over Tailscale need /dev/net/tun plus the
# NET_ADMIN and SYS_ADMIN capabilities, none of which Fargate can grant.

locals {
  # The agent config without secrets; entrypoint.sh writes it to AGENT_CONFIG.
  agent_config = yamlencode({
    agent = {
      machine_id            = var.agent.machine_id
      lab_id                = var.agent.lab_id
      scan_interval_seconds = var.agent.scan_interval_seconds
      stable_window_seconds = var.agent.stable_window_seconds
      health_port           = 8000
    }
    watch    = { session_roots = var.agent.session_roots }
    profiles = var.agent.profiles
    upload = {
      s3_bucket = aws_s3_bucket.data.bucket
      s3_region = var.region
      s3_prefix = local.key_prefix
    }
    storage = {
      manifest_cache_dir = "/data/manifests"
      log_dir            = "/data/logs"
    }
  })

  agent_container = {
    name         = "agent"
    image        = "${aws_ecr_repository.agent.repository_url}:${var.image_tag}"
    essential    = true
    stopTimeout  = 30 # the agent drains in 25 s after SIGTERM
    portMappings = [{ containerPort = 8000, protocol = "tcp" }]
    environment = [
      { name = "AGENT_CONFIG_YAML", value = local.agent_config },
      { name = "NFS_MOUNTS", value = var.nfs_mounts },
      { name = "TS_HOSTNAME", value = local.name },
      { name = "AGENT_UID", value = tostring(var.agent_uid) },
      { name = "AGENT_GID", value = tostring(var.agent_gid) },
      { name = "AWS_REGION", value = var.region },
    ]
    # Injected by ECS from Secrets Manager at start: only ARNs appear in the task definition.
    secrets = [
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
      { name = "TS_AUTHKEY", valueFrom = aws_secretsmanager_secret.ts_authkey.arn },
    ]
    linuxParameters = {
      capabilities = { add = ["NET_ADMIN", "SYS_ADMIN"] }
      devices = [{
        hostPath      = "/dev/net/tun"
        containerPath = "/dev/net/tun"
        permissions   = ["read", "write"]
      }]
    }
    healthCheck = {
      command     = ["CMD", "node", "-e", "fetch('http://127.0.0.1:8000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 120 # Tailscale and the mounts come first
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.agent.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "agent"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "agent" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "agent" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

resource "aws_launch_template" "agent" {
  name_prefix            = "${local.name}-"
  image_id               = nonsensitive(data.aws_ssm_parameter.ecs_ami.value)
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
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
  name_prefix           = "${local.name}-"
  vpc_zone_identifier   = var.private_subnet_ids
  min_size              = 1
  max_size              = max(2, 2 * var.desired_count) # room for old and new tasks during a deploy
  protect_from_scale_in = true                          # ECS decides which instances may go

  launch_template {
    id      = aws_launch_template.agent.id
    version = aws_launch_template.agent.latest_version
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
  name = local.name

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.agent.arn
    managed_termination_protection = "ENABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "agent" {
  cluster_name       = aws_ecs_cluster.agent.name
  capacity_providers = [aws_ecs_capacity_provider.agent.name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.agent.name
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "agent" {
  family                   = local.name
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode([local.agent_container])
}

resource "aws_ecs_service" "agent" {
  name            = "agent"
  cluster         = aws_ecs_cluster.agent.id
  task_definition = aws_ecs_task_definition.agent.arn
  desired_count   = var.desired_count

  # New tasks start before old ones stop: the agents coordinate through the database.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.agent.name
    weight            = 1
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.agent.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_ecs_cluster_capacity_providers.agent, aws_iam_role_policy.execution]
}
