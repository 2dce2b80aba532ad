#!/usr/bin/env bash
# Container start, as root. LAUNCH_TYPE=FARGATE (default): Tailscale in userspace-networking
# mode with a SOCKS5 proxy on localhost, through which the agent reads its nfs:// roots itself;
# nothing is mounted and no capability is added. LAUNCH_TYPE=EC2: kernel Tailscale, then the
# kernel NFS mounts of NFS_MOUNTS; a mount that fails stops the container, because running
# against an empty mountpoint directory would look like a lab with no sessions.
# Then the agent runs as AGENT_UID:AGENT_GID with no capabilities and no new privileges, and
# this script stays as its supervisor: SIGTERM goes to the agent alone (the shares stay
# reachable while it drains), a dead tailscaled fails the task, and the node logs out at the end.
set -euo pipefail

LAUNCH_TYPE="${LAUNCH_TYPE:-FARGATE}"
AGENT_CONFIG="${AGENT_CONFIG:-/etc/uploader/config.yaml}"
AGENT_BIN="${AGENT_BIN:-uploader-agent}"
AGENT_UID="${AGENT_UID:-1000}"
AGENT_GID="${AGENT_GID:-1000}"
AGENT_DATA_DIR="${AGENT_DATA_DIR:-/data}"
AGENT_SECRETS_PRELOAD="${AGENT_SECRETS_PRELOAD:-/usr/local/lib/uploader/agent-secrets.cjs}"
NFS_MOUNTS="${NFS_MOUNTS:-}"
# soft+timeo/retrans: a lab PC that goes away returns EIO after ~1.5 min instead of hanging
# the agent forever; nolock: no rpc.statd runs in the container (the agent takes no NFS locks).
NFS_MOUNT_OPTIONS="${NFS_MOUNT_OPTIONS:-rw,soft,timeo=300,retrans=3,nolock,noatime}"
DNS_WAIT_SECONDS="${DNS_WAIT_SECONDS:-60}"
TS_HOSTNAME="${TS_HOSTNAME:-lab-data-uploader}"
TS_STATE_DIR="${TS_STATE_DIR:-}"
TS_SOCKET="${TS_SOCKET:-/var/run/tailscale/tailscaled.sock}"
TS_TUN_DEVICE="${TS_TUN_DEVICE:-/dev/net/tun}"
TS_SOCKS5_SERVER="${TS_SOCKS5_SERVER:-127.0.0.1:1055}"
TS_EXTRA_ARGS="${TS_EXTRA_ARGS:-}"
PROC_STATUS="${PROC_STATUS:-/proc/self/status}"

# Nothing started from here inherits the secrets or this script's settings: tailscale up reads
# the auth key from its standard input, the agent reads DATABASE_URL from a pipe.
ts_authkey="${TS_AUTHKEY:-}"
database_url="${DATABASE_URL:-}"
unset TS_AUTHKEY DATABASE_URL
export -n LAUNCH_TYPE AGENT_CONFIG AGENT_CONFIG_YAML AGENT_BIN AGENT_UID AGENT_GID AGENT_DATA_DIR \
  AGENT_SECRETS_PRELOAD NFS_MOUNTS NFS_MOUNT_OPTIONS DNS_WAIT_SECONDS TS_HOSTNAME TS_STATE_DIR \
  TS_SOCKET TS_TUN_DEVICE TS_SOCKS5_SERVER TS_EXTRA_ARGS PROC_STATUS

tailscaled_pid=
agent_pid=

log() { echo "entrypoint: $*" >&2; }
die() {
  log "FATAL: $*"
  exit 1
}
refuse() {
  log "FATAL: $*"
  exit 2
}

has_net_admin() {
  local capeff
  capeff="$(awk '/^CapEff:/ {print $2}' "$PROC_STATUS")"
  [[ -n "$capeff" ]] && (((16#$capeff >> 12) & 1)) # CAP_NET_ADMIN is bit 12
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
    [[ "$entry" =~ ^([^:/]+):(/[^:]*):(/[^:]*)$ ]] || refuse "invalid NFS_MOUNTS entry '$entry' (expected host:/share:/mnt/point)"
    HOSTS+=("${BASH_REMATCH[1]}") SHARES+=("${BASH_REMATCH[2]}") POINTS+=("${BASH_REMATCH[3]}")
  done
}

check_launch_type() {
  case "$LAUNCH_TYPE" in
    FARGATE)
      ((${#POINTS[@]} == 0)) ||
        refuse "NFS_MOUNTS needs LAUNCH_TYPE=EC2 (kernel mounts); on Fargate the agent reads nfs:// roots itself through Tailscale's SOCKS5 proxy"
      ;;
    EC2) ;;
    *) refuse "LAUNCH_TYPE must be FARGATE or EC2, not '$LAUNCH_TYPE'" ;;
  esac
}

start_tailscale() {
  if [[ -z "$ts_authkey" ]]; then
    log "TS_AUTHKEY is not set: not starting Tailscale; the lab PCs must be reachable without it"
    return
  fi
  command -v tailscaled >/dev/null || die "TS_AUTHKEY is set but this image has no Tailscale (built with WITH_TAILSCALE=no)"
  local args=(--socket="$TS_SOCKET")
  if [[ "$LAUNCH_TYPE" == FARGATE ]]; then
    args+=(--tun=userspace-networking --socks5-server="$TS_SOCKS5_SERVER")
  elif [[ ! -c "$TS_TUN_DEVICE" ]] || ! has_net_admin; then
    die "LAUNCH_TYPE=EC2 mounts NFS over kernel Tailscale: run with $TS_TUN_DEVICE and the NET_ADMIN capability (or use LAUNCH_TYPE=FARGATE)"
  fi
  if [[ -n "$TS_STATE_DIR" ]]; then
    mkdir -p "$TS_STATE_DIR"
    args+=(--statedir="$TS_STATE_DIR")
  else
    args+=(--state=mem:) # ephemeral node: each task joins fresh with the auth key
  fi
  mkdir -p "$(dirname "$TS_SOCKET")"
  tailscaled "${args[@]}" &
  tailscaled_pid=$!
  trap stop_tailscale EXIT
  local tries=0
  until [[ -e "$TS_SOCKET" ]]; do
    kill -0 "$tailscaled_pid" 2>/dev/null || die "tailscaled exited during start (see its output above)"
    ((++tries > 200)) && die "tailscaled did not open $TS_SOCKET within 20 s"
    sleep 0.1
  done
  local extra=()
  read -r -a extra <<<"$TS_EXTRA_ARGS"
  printf '%s' "$ts_authkey" |
    tailscale --socket="$TS_SOCKET" up --auth-key=file:/dev/stdin --hostname="$TS_HOSTNAME" --timeout=60s "${extra[@]}" ||
    die "tailscale up failed (auth key expired or not reusable? tailnet ACLs?)"
  ts_authkey=
  log "Tailscale is up as $TS_HOSTNAME"
}

# Logged out, an ephemeral node leaves the tailnet now instead of when it expires.
stop_tailscale() {
  [[ -n "$tailscaled_pid" ]] || return 0
  timeout 3 tailscale --socket="$TS_SOCKET" logout || log "tailscale logout failed; an ephemeral node expires on its own"
  kill -TERM "$tailscaled_pid" 2>/dev/null || true
  wait "$tailscaled_pid" || true
  tailscaled_pid=
}

# MagicDNS answers only some time after tailscale up; a mount of a name it cannot resolve yet fails.
wait_for_dns() {
  local host deadline=$((SECONDS + DNS_WAIT_SECONDS))
  for host in "${HOSTS[@]}"; do
    [[ "$host" =~ ^[0-9]+(\.[0-9]+){3}$ ]] && continue
    until getent hosts "$host" >/dev/null; do
      ((SECONDS < deadline)) || die "cannot resolve NFS host $host after ${DNS_WAIT_SECONDS} s (MagicDNS enabled? name right?)"
      sleep 1
    done
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

prepare_agent_files() {
  if [[ -n "${AGENT_CONFIG_YAML:-}" ]]; then
    # ECS passes the (secret-free) config as an environment variable; the agent reads a file.
    mkdir -p "$(dirname "$AGENT_CONFIG")"
    printf '%s\n' "$AGENT_CONFIG_YAML" >"$AGENT_CONFIG"
  fi
  [[ -r "$AGENT_CONFIG" ]] || die "agent config $AGENT_CONFIG does not exist (set AGENT_CONFIG or AGENT_CONFIG_YAML)"
  mkdir -p "$AGENT_DATA_DIR"
  chown "$AGENT_UID:$AGENT_GID" "$AGENT_DATA_DIR"
}

# setpriv: the agent's user, no supplementary groups, and nothing that could regain privileges
# (mount.nfs is setuid root, and on EC2 the container holds SYS_ADMIN and NET_ADMIN).
start_agent() {
  local as_agent=(setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups --no-new-privs
    --inh-caps=-all --ambient-caps=-all --bounding-set=-all --)
  log "starting $AGENT_BIN as uid $AGENT_UID gid $AGENT_GID without capabilities"
  # root's home is closed to the agent's user (the AWS SDK looks for ~/.aws there).
  export HOME="$AGENT_DATA_DIR"
  if [[ -n "$database_url" ]]; then
    UPLOADER_SECRETS_FD=3 NODE_OPTIONS="--require=$AGENT_SECRETS_PRELOAD${NODE_OPTIONS:+ $NODE_OPTIONS}" \
      "${as_agent[@]}" "$AGENT_BIN" run --config "$AGENT_CONFIG" 3<<<"DATABASE_URL=$database_url" &
  else
    "${as_agent[@]}" "$AGENT_BIN" run --config "$AGENT_CONFIG" &
  fi
  agent_pid=$!
}

# Until the agent exits: its status is the container's. tailscaled dying first fails the task
# (ECS starts a new one) after the agent has drained: its shares are gone.
supervise() {
  trap 'log "SIGTERM: the agent drains, then exits"; kill -TERM "$agent_pid" 2>/dev/null || true' TERM
  trap 'kill -INT "$agent_pid" 2>/dev/null || true' INT
  local watched=("$agent_pid") exited status
  [[ -n "$tailscaled_pid" ]] && watched+=("$tailscaled_pid")
  while :; do
    exited='' status=0
    wait -n -p exited "${watched[@]}" || status=$?
    [[ -z "${exited:-}" ]] && continue # a signal interrupted the wait (and unset it)
    if [[ "$exited" == "$agent_pid" ]]; then
      log "agent exited with status $status"
      exit "$status"
    fi
    tailscaled_pid=
    log "FATAL: tailscaled exited with status $status; stopping the agent so that the task is replaced"
    kill -TERM "$agent_pid" 2>/dev/null || true
    while kill -0 "$agent_pid" 2>/dev/null; do wait "$agent_pid" || true; done
    exit 1
  done
}

parse_mounts # a typo fails before anything starts or is mounted
check_launch_type
start_tailscale
if [[ "$LAUNCH_TYPE" == EC2 ]]; then
  wait_for_dns
  mount_shares
fi
prepare_agent_files
start_agent
supervise
