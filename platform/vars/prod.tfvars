environment        = "prod"
region             = "ca-central-1"
vpc_id             = "vpc-0aaaaaaaaaaaaaaaa"
private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]

bucket_name = "example-lab-data-prod"
s3_prefix   = "raw"
sse_kms     = true

# etl_state_machine_arn = "arn:aws:states:ca-central-1:111111111111:stateMachine:lab-etl"

db_min_acu             = 0.5
db_max_acu             = 4
db_deletion_protection = true

# Fargate: userspace Tailscale; the agent reads each lab PC's NFSv4 export itself.
launch_type = "FARGATE"

agent = {
  machine_id = "lab-pc-fleet"
  lab_id     = "battery-lab"
  session_roots = [
    { path = "nfs://lab-pc-01/export/sessions", profile = "battery_session" },
    { path = "nfs://lab-pc-02/export/sessions", profile = "battery_session" },
  ]
  profiles = {
    battery_session = {
      required_markers = ["session_summary.json"]
      ignore_patterns  = ["*.tmp", "*.lock"]
      metadata_files   = ["metadata.json"]
    }
  }
}

min_tasks          = 1
max_tasks          = 6
log_retention_days = 365
alarm_email        = "lab-data-oncall@example.org"
