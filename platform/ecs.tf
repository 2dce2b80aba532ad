# launch_type picks how the agent reaches the lab shares (docs/deployment.md, "Launch type"):
# FARGATE: tailscaled in userspace-networking mode offers SOCKS5 on localhost and the agent
#          reads nfs:// roots itself through it; no capability, device or mount.
# EC2:     kernel Tailscale and kernel NFS mounts, which need /dev/net/tun, NET_ADMIN and
#          SYS_ADMIN: Fargate grants none of them, so these tasks run on ecs-ec2.tf's instances.

locals {
  ec2 = var.launch_type == "EC2"

  # Where tailscaled listens in userspace-networking mode (TS_SOCKS5_SERVER of entrypoint.sh)
  # and so where the agent's NFS connections go: one value for both ends.
  tailscale_socks5 = "127.0.0.1:1055"

  # The agent's /health and /metrics port: the config, the port mapping and the health check use this one value.
  health_port = 8000

  # The agent config without secrets; entrypoint.sh writes it to AGENT_CONFIG.
  agent_config = yamlencode(merge(
    {
      agent = {
        machine_id            = var.agent.machine_id
        lab_id                = var.agent.lab_id
        scan_interval_seconds = var.agent.scan_interval_seconds
        stable_window_seconds = var.agent.stable_window_seconds
        health_port           = local.health_port
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
    },
    { for k, v in { share = { nfs = { proxy = "socks5://${local.tailscale_socks5}", uid = var.agent_uid, gid = var.agent_gid } } } : k => v if !local.ec2 },
  ))

  agent_container = merge(
    {
      name         = "agent"
      image        = var.image_digest == "" ? "${aws_ecr_repository.agent.repository_url}:${var.image_tag}" : "${aws_ecr_repository.agent.repository_url}@${var.image_digest}"
      essential    = true
      stopTimeout  = 30 # the agent drains in 25 s after SIGTERM
      portMappings = [{ containerPort = local.health_port, protocol = "tcp" }]
      environment = concat(
        [
          { name = "LAUNCH_TYPE", value = var.launch_type },
          { name = "AGENT_CONFIG_YAML", value = local.agent_config },
          { name = "TS_HOSTNAME", value = local.name },
          { name = "AGENT_UID", value = tostring(var.agent_uid) },
          { name = "AGENT_GID", value = tostring(var.agent_gid) },
          { name = "AWS_REGION", value = var.region },
        ],
        local.ec2 ? [{ name = "NFS_MOUNTS", value = var.nfs_mounts }] : [{ name = "TS_SOCKS5_SERVER", value = local.tailscale_socks5 }],
      )
      # Injected by ECS from Secrets Manager at start: only ARNs appear in the task definition.
      secrets = [
        { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
        { name = "TS_AUTHKEY", valueFrom = aws_secretsmanager_secret.ts_authkey.arn },
      ]
      healthCheck = {
        command     = ["CMD", "node", "-e", "fetch('http://127.0.0.1:${local.health_port}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 120 # Tailscale (and on EC2 the mounts) come first
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.agent.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "agent"
        }
      }
    },
    {
      for k, v in {
        linuxParameters = {
          capabilities = { add = ["NET_ADMIN", "SYS_ADMIN"] }
          devices      = [{ hostPath = "/dev/net/tun", containerPath = "/dev/net/tun", permissions = ["read", "write"] }]
        }
      } : k => v if local.ec2
    },
  )
}

resource "aws_cloudwatch_log_group" "agent" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "agent" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled" # RunningTaskCount: the alarm in observability.tf and the scaling policy
  }
}

resource "aws_ecs_task_definition" "agent" {
  family                   = local.name
  requires_compatibilities = [var.launch_type]
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
  desired_count   = var.min_tasks
  launch_type     = local.ec2 ? null : "FARGATE"

  # New tasks start before old ones stop: the agents coordinate through the database.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  dynamic "capacity_provider_strategy" {
    for_each = aws_ecs_capacity_provider.agent
    content {
      capacity_provider = capacity_provider_strategy.value.name
      weight            = 1
    }
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

  lifecycle {
    ignore_changes = [desired_count] # owned by Application Auto Scaling (autoscaling.tf)
  }

  depends_on = [aws_ecs_cluster_capacity_providers.agent, aws_iam_role_policy.execution]
}
