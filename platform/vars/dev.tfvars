environment        = "dev"
region             = "ca-central-1"
vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

bucket_name = "example-lab-data-dev"
s3_prefix   = "raw"
sse_kms     = false

db_min_acu             = 0.5
db_max_acu             = 1
db_deletion_protection = false

# Fargate: userspace Tailscale; the agent reads the lab PC's NFSv4 export itself.
launch_type = "FARGATE"
min_tasks   = 1
max_tasks   = 2

agent = {
  machine_id            = "lab-pc-01"
  lab_id                = "battery-lab-dev"
  stable_window_seconds = 120
  session_roots         = [{ path = "nfs://lab-pc-01/export/sessions", profile = "battery_session" }]
  profiles = {
    battery_session = {
      required_markers = ["session_summary.json"]
      ignore_patterns  = ["*.tmp", "*.lock"]
      metadata_files   = ["metadata.json"]
    }
  }
}

log_retention_days = 30
