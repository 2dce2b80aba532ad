# launch_type FARGATE (the default): no privilege, no host, no EC2. Run with -var-file=vars/<env>.tfvars.

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "fargate" {
  command = plan

  variables {
    launch_type = "FARGATE"
  }

  assert {
    condition     = aws_ecs_task_definition.agent.requires_compatibilities == toset(["FARGATE"]) && aws_ecs_task_definition.agent.network_mode == "awsvpc"
    error_message = "The task definition must be for Fargate with awsvpc networking."
  }

  assert {
    condition     = aws_ecs_service.agent.launch_type == "FARGATE" && length(aws_ecs_service.agent.capacity_provider_strategy) == 0
    error_message = "The service must run on Fargate, not on a capacity provider."
  }

  assert {
    condition = alltrue([for k in ["linuxParameters", "privileged", "mountPoints", "volumesFrom", "user"] :
    !contains(keys(jsondecode(aws_ecs_task_definition.agent.container_definitions)[0]), k)])
    error_message = "A Fargate agent needs no capability, device, privilege or mount."
  }

  assert {
    condition     = length(aws_ecs_task_definition.agent.volume) == 0
    error_message = "A Fargate agent mounts no volume."
  }

  assert {
    condition = {
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["LAUNCH_TYPE"] == "FARGATE"
    error_message = "The container must be told LAUNCH_TYPE=FARGATE (userspace Tailscale, no mounts)."
  }

  assert {
    condition = !contains([
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name
    ], "NFS_MOUNTS")
    error_message = "NFS_MOUNTS is for kernel mounts (EC2) only."
  }

  assert {
    condition = yamldecode({
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["AGENT_CONFIG_YAML"]).share.nfs.proxy == "socks5://127.0.0.1:1055"
    error_message = "The agent must reach the shares through tailscaled's SOCKS5 proxy on localhost."
  }

  assert {
    condition = "socks5://${ {
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
      }["TS_SOCKS5_SERVER"]}" == yamldecode({
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["AGENT_CONFIG_YAML"]).share.nfs.proxy
    error_message = "tailscaled must listen where the agent's NFS proxy points."
  }

  assert {
    condition = alltrue([for r in yamldecode({
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["AGENT_CONFIG_YAML"]).watch.session_roots : startswith(r.path, "nfs://")])
    error_message = "On Fargate every session root is an nfs:// URL the agent reads itself."
  }

  assert {
    condition = (length(aws_autoscaling_group.agent) + length(aws_launch_template.agent) + length(aws_ecs_capacity_provider.agent)
      + length(aws_ecs_cluster_capacity_providers.agent) + length(aws_iam_role.instance) + length(aws_iam_instance_profile.instance)
    + length(aws_security_group.instances) + length(data.aws_ssm_parameter.ecs_ami)) == 0
    error_message = "Fargate creates no EC2 capacity: no ASG, launch template, capacity provider, instance role or instance security group."
  }
}
