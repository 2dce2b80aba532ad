# syntax=docker/dockerfile:1
# Pin by digest in production (node:22-bookworm-slim@sha256:...) for reproducible builds. Where
# no registry can be reached, scripts/container/bootstrap-base.sh builds a stand-in locally.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: dev dependencies, TypeScript compile, then drop dev dependencies ---------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied in. A build behind a
# TLS-inspecting proxy hands its CA in as the optional secret `build_ca`: used for this step
# only, it stays out of every layer and of the image history.
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/build_ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
    && npx esbuild scripts/container/agent-secrets.cts --format=cjs --platform=node --target=node20 \
         --outfile=dist/container/agent-secrets.cjs \
    && npm prune --omit=dev --ignore-scripts

# --- runtime: production dependencies, NFS client, Tailscale, tini ------------------------
FROM ${NODE_IMAGE}
# The agent connects to Aurora with sslmode=verify-full against this bundle. A test build
# where AWS cannot be reached serves a bundle of its own and passes that URL instead.
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
# yes: Tailscale from its apt repository. no: for test builds where that repository cannot be
# reached; such an image refuses to start with TS_AUTHKEY set.
ARG WITH_TAILSCALE=yes
# The agent drops to this user after mounting; match the owner of the lab shares
# (overridable at run time with AGENT_UID / AGENT_GID).
ARG AGENT_UID=1000
ARG AGENT_GID=1000

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl nfs-common tini; \
    case "$WITH_TAILSCALE" in \
      yes) \
        curl -fsSL https://pkgs.tailscale.com/stable/debian/bookworm.noarmor.gpg \
          -o /usr/share/keyrings/tailscale-archive-keyring.gpg; \
        curl -fsSL https://pkgs.tailscale.com/stable/debian/bookworm.tailscale-keyring.list \
          -o /etc/apt/sources.list.d/tailscale.list; \
        apt-get update; \
        apt-get install -y --no-install-recommends tailscale ;; \
      no) ;; \
      *) echo "WITH_TAILSCALE must be yes or no" >&2; exit 1 ;; \
    esac; \
    curl -fsSL "$RDS_CA_BUNDLE_URL" -o /etc/ssl/certs/rds-global-bundle.pem; \
    grep -q 'BEGIN CERTIFICATE' /etc/ssl/certs/rds-global-bundle.pem; \
    apt-get purge -y curl; \
    apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production \
    PORT=8000 \
    AGENT_CONFIG=/etc/uploader/config.yaml \
    AGENT_UID=${AGENT_UID} \
    AGENT_GID=${AGENT_GID} \
    AGENT_DATA_DIR=/data
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/dist/container/agent-secrets.cjs /usr/local/lib/uploader/agent-secrets.cjs
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
RUN chmod 755 dist/app/cli/uploader-agent.cjs \
    && ln -s /app/dist/app/cli/uploader-agent.cjs /usr/local/bin/uploader-agent \
    && mkdir -p /data /etc/uploader

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Starts as root only to bring up Tailscale (and, on EC2, mount the shares): entrypoint.sh then
# runs the agent as AGENT_UID:AGENT_GID without capabilities and supervises it. tini is PID 1
# and forwards SIGTERM to entrypoint.sh alone (no -g), which passes it to the agent only, so
# tailscaled keeps the shares reachable while the agent drains.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/entrypoint.sh"]
