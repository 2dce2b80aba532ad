#!/usr/bin/env bash
# Usage: push-image.sh OCI_ARCHIVE REPOSITORY_URL TAG DIGEST
#
# Pushes the image the build job made, byte for byte, to this environment's ECR repository, so
# every environment runs the same digest. Tags are immutable: when TAG already exists (a re-run)
# it must name DIGEST.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 OCI_ARCHIVE REPOSITORY_URL TAG DIGEST" >&2
  exit 2
fi
archive="$1" repo="$2" tag="$3" digest="$4"
name="${repo#*/}"

if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::not an image digest: ${digest}" >&2
  exit 1
fi

pushed_digest() {
  aws ecr describe-images --repository-name "$name" --image-ids "imageTag=${tag}" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true
}

existing="$(pushed_digest)"
if [[ -z "$existing" || "$existing" == "None" ]]; then
  aws ecr get-login-password | skopeo login --username AWS --password-stdin "${repo%%/*}"
  # --preserve-digests: refuse rather than push a re-encoded image with another digest.
  skopeo copy --preserve-digests "oci-archive:${archive}" "docker://${repo}:${tag}"
  existing="$(pushed_digest)"
fi

if [[ "$existing" != "$digest" ]]; then
  echo "::error::${repo}:${tag} is ${existing}, not the built ${digest}" >&2
  exit 1
fi
echo "${repo}:${tag} is ${digest}"
