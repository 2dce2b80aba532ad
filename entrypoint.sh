#!/usr/bin/env bash
# Container start: Tailscale up -> NFS mounts from NFS_MOUNTS -> exec the agent as a
# non-root user. Any mount that fails stops the container: running against an empty
# mountpoint directory would look like a lab with no sessions.
set -euo pipefail

AGENT_CONFIG="${AGENT_CONFIG:-/etc/uploader/config.yaml}"
AGENT_BIN="${AGENT_BIN:-uploader-agent}"
AGENT_UID="${AGENT_UID:-1000}"
AGENT_GID="${AGENT_GID:-1000}"
AGENT_DATA_DIR="${AGENT_DATA_DIR:-/data}"
NFS_MOUNTS="${NFS_MOUNTS:-}"
# soft+timeo/retrans: a lab PC that goes away returns EIO after ~1.5 min instead of hanging
# the agent forever; nolock: no rpc.statd runs in the container (the agent takes no NFS locks).
NFS_MOUNT_OPTIONS="${NFS_MOUNT_OPTIONS:-rw,soft,timeo=300,retrans=3,nolock,noatime}"
TS_AUTHKEY="${TS_AUTHKEY:-}"
TS_HOSTNAME="${TS_HOSTNAME:-lab-data-uploader}"
TS_STATE_DIR="${TS_STATE_DIR:-}"
TS_SOCKET="${TS_SOCKET:-/var/run/tailscale/tailscaled.sock}"
TS_TUN_DEVICE="${TS_TUN_DEVICE:-/dev/net/tun}"
TS_EXTRA_ARGS="${TS_EXTRA_ARGS:-}"
PROC_STATUS="${PROC_STATUS:-/proc/self/status}"

log() { echo "entrypoint: $*" >&2; }
die() {
  log "FATAL: $*"
  exit 1
}

has_net_admin() {
  local capeff
  capeff="$(awk '/^CapEff:/ {print $2}' "$PROC_STATUS")"
  [[ -n "$capeff" ]] && (((16#$capeff >> 12) & 1)) # CAP_NET_ADMIN is bit 12
}

start_tailscale() {
  if [[ -z "$TS_AUTHKEY" ]]; then
    log "TS_AUTHKEY is not set: not starting Tailscale; NFS hosts must be reachable without it"
    return
  fi
  if [[ ! -c "$TS_TUN_DEVICE" ]] || ! has_net_admin; then
    # Userspace networking only offers a SOCKS/HTTP proxy; the kernel NFS client cannot use it.
    if ((${#POINTS[@]} > 0)); then
      die "NFS mounts over Tailscale need kernel networking: run with $TS_TUN_DEVICE and the NET_ADMIN capability (ECS on EC2, not Fargate)"
    fi
    log "no $TS_TUN_DEVICE or NET_ADMIN: Tailscale in userspace mode (no NFS mounts configured)"
    set -- --tun=userspace-networking
  else
    set --
  fi
  if [[ -n "$TS_STATE_DIR" ]]; then
    mkdir -p "$TS_STATE_DIR"
    set -- "$@" --statedir="$TS_STATE_DIR"
  else
    set -- "$@" --state=mem: # ephemeral node: each task joins fresh with the auth key
  fi
  mkdir -p "$(dirname "$TS_SOCKET")"
  tailscaled --socket="$TS_SOCKET" "$@" &
  local pid=$! tries=0
  until [[ -e "$TS_SOCKET" ]]; do
    kill -0 "$pid" 2>/dev/null || die "tailscaled exited during start (see its output above)"
    ((++tries > 200)) && die "tailscaled did not open $TS_SOCKET within 20 s"
    sleep 0.1
  done
  local extra=()
  read -r -a extra <<<"$TS_EXTRA_ARGS"
  tailscale --socket="$TS_SOCKET" up --authkey="$TS_AUTHKEY" --hostname="$TS_HOSTNAME" --timeout=60s "${extra[@]}" ||
    die "tailscale up failed (auth key expired or not reusable? tailnet ACLs?)"
  log "Tailscale is up as $TS_HOSTNAME"
}

# NFS_MOUNTS: "host:/share:/mnt/point,host2:/export/data:/mnt/lab2". Fields are split on ':',
# so IPv6 literals are not supported (use a MagicDNS name or an IPv4 address).
HOSTS=() SHARES=() POINTS=()
parse_mounts() {
  local entries entry
  IFS=',' read -r -a entries <<<"$NFS_MOUNTS"
  for entry in "${entries[@]}"; do
    entry="${entry//[[:space:]]/}"
    [[ -z "$entry" ]] && continue
    if [[ ! "$entry" =~ ^([^:/]+):(/[^:]*):(/[^:]*)$ ]]; then
      log "FATAL: invalid NFS_MOUNTS entry '$entry' (expected host:/share:/mnt/point)"
      exit 2
    fi
    HOSTS+=("${BASH_REMATCH[1]}") SHARES+=("${BASH_REMATCH[2]}") POINTS+=("${BASH_REMATCH[3]}")
  done
}

mount_shares() {
  local i
  for i in "${!POINTS[@]}"; do
    mkdir -p "${POINTS[i]}"
    log "mounting ${HOSTS[i]}:${SHARES[i]} on ${POINTS[i]} ($NFS_MOUNT_OPTIONS)"
    mount -t nfs -o "$NFS_MOUNT_OPTIONS" "${HOSTS[i]}:${SHARES[i]}" "${POINTS[i]}" ||
      die "mount of ${HOSTS[i]}:${SHARES[i]} on ${POINTS[i]} failed; refusing to start against an empty directory"
    mountpoint -q "${POINTS[i]}" || die "${POINTS[i]} is not a mountpoint after mounting ${HOSTS[i]}:${SHARES[i]}"
  done
}

parse_mounts # a typo fails before anything starts or is mounted
start_tailscale
mount_shares

if [[ -n "${AGENT_CONFIG_YAML:-}" ]]; then
  # ECS passes the (secret-free) config as an environment variable; the agent reads a file.
  mkdir -p "$(dirname "$AGENT_CONFIG")"
  printf '%s\n' "$AGENT_CONFIG_YAML" >"$AGENT_CONFIG"
fi
[[ -r "$AGENT_CONFIG" ]] || die "agent config $AGENT_CONFIG does not exist (set AGENT_CONFIG or AGENT_CONFIG_YAML)"

mkdir -p "$AGENT_DATA_DIR"
chown "$AGENT_UID:$AGENT_GID" "$AGENT_DATA_DIR"

log "starting $AGENT_BIN as uid $AGENT_UID gid $AGENT_GID"
exec setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups -- "$AGENT_BIN" run --config "$AGENT_CONFIG"
