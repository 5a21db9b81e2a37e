# poolwatch container image.
#
# Build stage: Debian bookworm with the -dev packages, installed and built by the very scripts CI
# runs (scripts/install-deps --build-only, scripts/build), so CI exercises these steps even where
# no Docker engine runs. Runtime stage: bookworm-slim with only the runtime libraries (the list
# below is checked against `ldd` of the built binary by tests/lint/image.sh), a non-root user, and
# a statically linked health-check helper so HEALTHCHECK and the chart's preStop need no shell.
# tests/lint/image_run.sh builds and runs this file for real with podman.
#
#   docker build --build-arg POOLWATCH_REVISION=$(git rev-parse --short=12 HEAD) -t poolwatch .
#   podman build --format docker ...   (podman's default OCI format drops HEALTHCHECK)
#   docker run --rm -p 9930:9930 -v $PWD/poolwatch.yaml:/etc/poolwatch/poolwatch.yaml:ro poolwatch
#
# Bases: BUILD_IMAGE and RUNTIME_IMAGE default to the Debian tags (which a machine without a
# registry makes locally with docker/make-base-image). For reproducible releases pin them by
# digest, e.g. --build-arg RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim@sha256:...
ARG BUILD_IMAGE=docker.io/library/debian:bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps --build-only
COPY . .
# Release: the binary is stripped below, so debug info would only cost compile time. The libraries
# are unity-built (half the compile time; CI's plain tree compiles each source alone).
RUN scripts/build build -DCMAKE_BUILD_TYPE=Release -DPOOLWATCH_BUILD_TESTS=OFF -DPOOLWATCH_UNITY_LIBRARIES=ON
# The revision (no .git in the context) comes last: another commit of the same sources reuses the
# layer above and recompiles only what includes version.h.
ARG POOLWATCH_REVISION=unknown
RUN scripts/build build -DCMAKE_BUILD_TYPE=Release -DPOOLWATCH_BUILD_TESTS=OFF -DPOOLWATCH_UNITY_LIBRARIES=ON -DPOOLWATCH_REVISION=${POOLWATCH_REVISION} \
 && mkdir -p /out \
 && strip -o /out/poolwatch build/exporter/poolwatch \
 && mkdir -p /out/lib/poolwatch \
 && strip -o /out/lib/poolwatch/libpoolwatch-ssl-compat.so build/lib/poolwatch/libpoolwatch-ssl-compat.so \
 && strip -o /out/lib/poolwatch/libpoolwatch-crypto-compat.so build/lib/poolwatch/libpoolwatch-crypto-compat.so \
 && cc -O2 -Wall -Wextra -Werror -static -s -o /out/poolwatch-healthcheck docker/poolwatch-healthcheck.c \
 && /out/poolwatch --version

FROM ${RUNTIME_IMAGE}
ARG POOLWATCH_REVISION=unknown
ARG POOLWATCH_VERSION=0.1.0
LABEL org.opencontainers.image.title="poolwatch" \
      org.opencontainers.image.description="PostgreSQL + PgBouncer sidecar: Prometheus metrics and Slack/Alertmanager alerts" \
      org.opencontainers.image.source="https://github.com/poolwatch/poolwatch" \
      org.opencontainers.image.version="${POOLWATCH_VERSION}" \
      org.opencontainers.image.revision="${POOLWATCH_REVISION}"
# runtime-packages: begin (one package per line; tests/lint/image.sh parses this block)
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libc6 \
      libcrypt1 \
      zlib1g \
      libpq5 \
      libprometheus-cpp-core1.0 \
      libcivetweb1 \
      libcurl4 \
      libssl3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
# runtime-packages: end
RUN groupadd --system --gid 65532 poolwatch \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin poolwatch \
 && mkdir -p /etc/poolwatch /var/lib/poolwatch \
 && chown 65532:65532 /var/lib/poolwatch
COPY --from=build /out/poolwatch /usr/local/bin/poolwatch
COPY --from=build /out/poolwatch-healthcheck /usr/local/bin/poolwatch-healthcheck
# Loaded from ../lib/poolwatch relative to the binary: TLS with Debian 12's CivetWeb (see README).
COPY --from=build /out/lib/poolwatch/ /usr/local/lib/poolwatch/
# GnuTLS (libpq -> libldap) initialises itself when it is loaded unless told not to: 1 MB of RSS
# for a library poolwatch only reaches through an ldap:// service lookup, and libldap initialises
# GnuTLS itself before it uses it (BENCHMARKS.md, "Issue 16, fourth round").
ENV GNUTLS_NO_IMPLICIT_INIT=1
USER 65532:65532
EXPOSE 9930
# Exec form, no shell: GET http://127.0.0.1:9930/healthz (set POOLWATCH_HEALTHCHECK_URL when
# --web.listen-address moves the port). /healthz never depends on the databases.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/poolwatch-healthcheck"]
ENTRYPOINT ["/usr/local/bin/poolwatch"]
CMD ["--config.file=/etc/poolwatch/poolwatch.yaml"]
