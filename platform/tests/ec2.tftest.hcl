# launch_type EC2: kernel Tailscale and kernel NFS mounts on an EC2 capacity provider.
# Run with -var-file=vars/<env>.tfvars; the roots and mounts below replace its nfs:// roots.

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "ec2" {
  command = plan

  variables {
    launch_type = "EC2"
    nfs_mounts  = "lab-pc-01:/export/sessions:/mnt/lab1"
    agent = {
      machine_id    = "lab-pc-01"
      lab_id        = "battery-lab"
      session_roots = [{ path = "/mnt/lab1/sessions", profile = "battery_session" }]
      profiles      = { battery_session = { required_markers = ["session_summary.json"] } }
    }
  }

  assert {
    condition     = aws_ecs_task_definition.agent.requires_compatibilities == toset(["EC2"])
    error_message = "The task definition must be for EC2."
  }

  assert {
    condition     = [for s in aws_ecs_service.agent.capacity_provider_strategy : s.capacity_provider] == [aws_ecs_capacity_provider.agent[0].name]
    error_message = "The service must run on the agent's capacity provider."
  }

  assert {
    condition     = aws_ecs_capacity_provider.agent[0].auto_scaling_group_provider[0].auto_scaling_group_arn == aws_autoscaling_group.agent[0].arn
    error_message = "The capacity provider must scale the agent's Auto Scaling group."
  }

  assert {
    condition     = aws_autoscaling_group.agent[0].max_size == 2 * var.max_tasks
    error_message = "The group must have room for old and new tasks at the largest scale."
  }

  assert {
    condition     = aws_launch_template.agent[0].metadata_options[0].http_tokens == "required" && aws_launch_template.agent[0].block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "Instances must require IMDSv2 and encrypt their root volume."
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].linuxParameters == {
      capabilities = { add = ["NET_ADMIN", "SYS_ADMIN"] }
      devices      = [{ hostPath = "/dev/net/tun", containerPath = "/dev/net/tun", permissions = ["read", "write"] }]
    }
    error_message = "Kernel Tailscale and NFS need exactly NET_ADMIN, SYS_ADMIN and /dev/net/tun."
  }

  assert {
    condition = {
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["LAUNCH_TYPE"] == "EC2"
    error_message = "The container must be told LAUNCH_TYPE=EC2."
  }

  assert {
    condition = {
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["NFS_MOUNTS"] == var.nfs_mounts
    error_message = "The entrypoint must get NFS_MOUNTS."
  }

  assert {
    condition = !contains(keys(yamldecode({
      for e in jsondecode(aws_ecs_task_definition.agent.container_definitions)[0].environment : e.name => e.value
    }["AGENT_CONFIG_YAML"])), "share")
    error_message = "Kernel-mounted roots need no NFS proxy in the agent config."
  }

  assert {
    condition     = length(aws_iam_role.instance) == 1 && length(aws_iam_instance_profile.instance) == 1
    error_message = "The container instances need their role and profile."
  }
}
