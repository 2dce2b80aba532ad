# Scale the agent service on its backlog. Every agent publishes the sessions and bytes waiting
# to upload (read from the shared database, so all tasks report the same numbers) as an
# embedded-metric-format log line (app/health/backlog-metric.ts). The policy tracks sessions
# per running task, not bytes: one session is worked by one agent at a time, so more tasks
# help a queue of sessions but never a single large one.

locals {
  backlog_namespace = "LabDataUploader"
  backlog_dimensions = {
    LabId     = var.agent.lab_id
    MachineId = var.agent.machine_id
  }
}

resource "aws_appautoscaling_target" "agent" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.agent.name}/${aws_ecs_service.agent.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
}

resource "aws_appautoscaling_policy" "backlog" {
  name               = "${local.name}-sessions-waiting-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.agent.service_namespace
  resource_id        = aws_appautoscaling_target.agent.resource_id
  scalable_dimension = aws_appautoscaling_target.agent.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.sessions_per_task
    scale_out_cooldown = 120
    # A task stopped by scale-in drains and gives its session back (lease, multipart resume);
    # waiting long avoids doing that to an upload whose queue only paused.
    scale_in_cooldown = 900

    customized_metric_specification {
      metrics {
        id          = "waiting"
        label       = "Sessions waiting to upload"
        return_data = false
        metric_stat {
          stat = "Maximum" # every task reports the same count
          metric {
            namespace   = local.backlog_namespace
            metric_name = "SessionsWaiting"
            dynamic "dimensions" {
              for_each = local.backlog_dimensions
              content {
                name  = dimensions.key
                value = dimensions.value
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running agent tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.agent.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.agent.name
            }
          }
        }
      }

      metrics {
        id          = "per_task"
        label       = "Sessions waiting per running task"
        expression  = "waiting / IF(tasks >= 1, tasks, 1)"
        return_data = true
      }
    }
  }
}
