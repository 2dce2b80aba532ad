#!/usr/bin/env bash
# Usage: ecs-deployment-check.sh CLUSTER SERVICE TASK_DEFINITION_ARN
#
# Waits for the service to settle, then fails unless its primary deployment completed with the
# task definition this deploy registered. `aws ecs wait services-stable` alone also succeeds
# after the deployment circuit breaker has rolled back to the previous task definition.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 CLUSTER SERVICE TASK_DEFINITION_ARN" >&2
  exit 2
fi
cluster="$1" service="$2" want="$3"

if ! aws ecs wait services-stable --cluster "$cluster" --services "$service"; then
  echo "::error::ECS service ${service} did not become stable" >&2
  exit 1
fi

# shellcheck disable=SC2016 # backquotes are JMESPath literals, not shell
primary="$(aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].deployments[?status==`PRIMARY`] | [0].[rolloutState, taskDefinition]' --output text)"
read -r state taskdef <<<"$primary"

if [[ "$taskdef" != "$want" ]]; then
  echo "::error::ECS service ${service} runs ${taskdef}, not ${want}: the deployment was rolled back" >&2
  exit 1
fi
if [[ "$state" != "COMPLETED" ]]; then
  echo "::error::ECS deployment of ${want} is ${state}, not COMPLETED" >&2
  exit 1
fi
echo "ECS service ${service} runs ${want} (rollout COMPLETED)"
