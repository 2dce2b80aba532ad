locals {
  name = "lab-data-uploader-${var.environment}"

  # "raw" and "raw/" both mean keys under "raw/"; the agent never writes empty segments.
  key_prefix = var.s3_prefix == "" ? "" : "${trimsuffix(var.s3_prefix, "/")}/"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}
