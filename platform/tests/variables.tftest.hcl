# Misconfigurations refused before anything is planned. Run with -var-file=vars/<env>.tfvars.

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "unknown_launch_type" {
  command = plan
  variables {
    launch_type = "LAMBDA"
  }
  expect_failures = [var.launch_type]
}

run "fargate_refuses_kernel_mounts" {
  command = plan
  variables {
    launch_type = "FARGATE"
    nfs_mounts  = "lab-pc-01:/export/sessions:/mnt/lab1"
  }
  expect_failures = [var.nfs_mounts]
}

run "fargate_refuses_local_roots" {
  command = plan
  variables {
    launch_type = "FARGATE"
    agent = {
      machine_id    = "m"
      lab_id        = "l"
      session_roots = [{ path = "/mnt/lab1/sessions", profile = "p" }]
      profiles      = { p = {} }
    }
  }
  expect_failures = [var.agent]
}

run "ec2_needs_mounts_and_local_roots" {
  command = plan
  variables {
    launch_type = "EC2"
    nfs_mounts  = ""
  }
  expect_failures = [var.nfs_mounts, var.agent]
}

run "max_below_min_tasks" {
  command = plan
  variables {
    min_tasks = 3
    max_tasks = 2
  }
  expect_failures = [var.max_tasks]
}

run "image_digest_must_be_a_digest" {
  command = plan
  variables {
    image_digest = "latest"
  }
  expect_failures = [var.image_digest]
}
