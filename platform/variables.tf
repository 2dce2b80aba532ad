variable "environment" {
  description = "Short environment name (dev, prod); part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region of the deployment."
  type        = string
  default     = "ca-central-1"
}

# --- network inputs (the VPC is owned elsewhere) --------------------------------------------

variable "vpc_id" {
  description = "VPC that hosts the agent and the database."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (with a NAT route to Tailscale, ECR and S3) for the agent and Aurora; at least two AZs."
  type        = list(string)
}

# --- data bucket --------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the S3 bucket that receives the sessions."
  type        = string
}

variable "s3_prefix" {
  description = "Key prefix the agent writes under (upload.s3_prefix); empty for the bucket root."
  type        = string
  default     = ""

  validation {
    # Used verbatim in IAM ARNs and in Step Functions States.Format strings.
    condition     = can(regex("^([A-Za-z0-9._-]+/)*([A-Za-z0-9._-]+)?$", var.s3_prefix))
    error_message = "s3_prefix may only contain [A-Za-z0-9._-] segments separated by '/'."
  }
}

variable "sse_kms" {
  description = "Encrypt the bucket with a customer-managed KMS key (true) or SSE-S3 (false)."
  type        = bool
  default     = true
}

variable "noncurrent_version_retention_days" {
  description = "How long an overwritten object version stays recoverable."
  type        = number
  default     = 90
}

# --- downstream ---------------------------------------------------------------------------

variable "etl_state_machine_arn" {
  description = "State machine started with each validated session; empty means validation only."
  type        = string
  default     = ""
}

# --- database -----------------------------------------------------------------------------

variable "db_min_acu" {
  description = "Aurora Serverless v2 minimum capacity."
  type        = number
  default     = 0.5
}

variable "db_max_acu" {
  description = "Aurora Serverless v2 maximum capacity."
  type        = number
  default     = 2
}

variable "db_deletion_protection" {
  description = "Protect the state database from deletion."
  type        = bool
  default     = true
}

variable "db_data_api" {
  description = "Enable the RDS Data API on the cluster (how docs/deployment.md creates the agent's database role)."
  type        = bool
  default     = true
}

# --- agent --------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag (commit SHA) of the agent image in the ECR repository."
  type        = string
}

variable "image_digest" {
  description = "Digest (sha256:...) of that image; when set the task runs exactly it, as promoted from dev to prod."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(sha256:[0-9a-f]{64})?$", var.image_digest))
    error_message = "image_digest must be empty or sha256: followed by 64 hex digits."
  }
}

variable "launch_type" {
  description = "FARGATE: userspace Tailscale (SOCKS5 on localhost) and nfs:// roots read by the agent, no privileges. EC2: kernel Tailscale and kernel NFS mounts on an EC2 capacity provider."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type must be FARGATE or EC2."
  }
}

variable "min_tasks" {
  description = "Agent tasks when there is no backlog; several share the work through leases."
  type        = number
  default     = 1

  validation {
    condition     = var.min_tasks >= 1 && floor(var.min_tasks) == var.min_tasks
    error_message = "min_tasks must be a whole number of at least 1 (an idle lab still needs one agent to notice new sessions)."
  }
}

variable "max_tasks" {
  description = "Most agent tasks Application Auto Scaling may run for a backlog."
  type        = number
  default     = 4

  validation {
    condition     = var.max_tasks >= var.min_tasks && floor(var.max_tasks) == var.max_tasks
    error_message = "max_tasks must be a whole number no smaller than min_tasks."
  }
}

variable "sessions_per_task" {
  description = "Target of the scaling policy: sessions waiting to upload per running task (match the agent's upload.parallel_sessions)."
  type        = number
  default     = 2

  validation {
    condition     = var.sessions_per_task > 0
    error_message = "sessions_per_task must be positive."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the ECS capacity provider (launch_type EC2 only)."
  type        = string
  default     = "t3.small"
}

variable "task_cpu" {
  description = "CPU units reserved for the agent task."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Memory (MiB) reserved for the agent task."
  type        = number
  default     = 1024
}

variable "agent_uid" {
  description = "UID the agent runs as (EC2: after mounting), the owner of the lab shares; on FARGATE also its NFS AUTH_SYS uid."
  type        = number
  default     = 1000
}

variable "agent_gid" {
  description = "GID the agent runs as (EC2: after mounting); on FARGATE also its NFS AUTH_SYS gid."
  type        = number
  default     = 1000
}

variable "nfs_mounts" {
  description = "NFS_MOUNTS for the entrypoint (launch_type EC2 only): host:/share:/mnt/point, comma separated."
  type        = string
  default     = ""

  validation {
    condition     = (var.launch_type == "EC2") == (var.nfs_mounts != "")
    error_message = "nfs_mounts is required with launch_type EC2 and must be empty with FARGATE (the agent reads nfs:// roots itself)."
  }
}

variable "agent" {
  description = "The agent, watch and profiles sections of the agent config (upload and storage are derived)."
  type = object({
    machine_id            = string
    lab_id                = string
    scan_interval_seconds = optional(number, 60)
    stable_window_seconds = optional(number, 300)
    session_roots         = list(object({ path = string, profile = string }))
    profiles = map(object({
      required_markers = optional(list(string), [])
      ignore_patterns  = optional(list(string), [])
      metadata_files   = optional(list(string), [])
    }))
  })

  validation {
    # Fargate has no kernel NFS client: every root must be one the agent reads itself.
    condition     = alltrue([for r in var.agent.session_roots : startswith(r.path, "nfs://") == (var.launch_type == "FARGATE")])
    error_message = "With launch_type FARGATE every session root must be nfs://HOST/PATH; with EC2, a path under an NFS_MOUNTS mount point."
  }
}

# --- observability ------------------------------------------------------------------------

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the agent logs."
  type        = number
  default     = 90
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic; empty to subscribe it elsewhere."
  type        = string
  default     = ""
}
