#!/usr/bin/env bash
# The image built and run by a real container engine (podman), as a new user would:
#  - base images made locally when missing (docker/make-base-image: debootstrap, podman import);
#  - `podman build --pull=never --isolation=chroot --format docker` of the Dockerfile with the
#    revision as a build argument; the image's OCI labels, user, HEALTHCHECK and size;
#  - `podman run --network=host --read-only` as uid 65532 against a live PostgreSQL + PgBouncer
#    (scripts/pgstack): /metrics says pg_up 1 and pgbouncer_up 1 and the build's revision;
#    the root file system refuses writes; `podman healthcheck run` and the helper pass;
#  - `podman stop -t GRACE` (SIGTERM): poolwatch logs its shutdown and exits 0 within the grace
#    (a SIGKILL after the grace would show as exit code 137).
# runc with default_ulimits = [] and cgroupfs: crun fails on hybrid-cgroup VMs (README, DEPLOY.md).
# Exits 77 (ctest: skipped) with the reason when no engine can run here (not root, no podman,
# `podman info` failing); every failure after that is a failure. Label `lint`: the sanitizer
# stages never run it.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
grace=${POOLWATCH_IMAGE_STOP_GRACE:-15}
t0=$(date +%s)
tmp=$(mktemp -d /tmp/poolwatch-image-XXXXXX)
chmod 755 "$tmp"
tag=localhost/poolwatch:image-test-$$
ctr=poolwatch-image-test-$$
built=0
cleanup() {
  podman rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
  [ "$built" = 1 ] && podman rmi -f "$tag" >/dev/null 2>&1
  "$src/scripts/pgstack" stop "$tmp/stack" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }
step() { echo "== $* (+$(( $(date +%s) - t0 ))s)"; }

[ "$(id -u)" = 0 ] || skip "not root: this test runs podman as root (CI does)"
command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps installs podman buildah runc debootstrap uidmap)"
command -v runc >/dev/null || skip "runc is not installed (scripts/install-deps)"
cat >"$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_CONF=$tmp/containers.conf
podman info >"$tmp/info" 2>&1 || skip "podman cannot run here: $(tail -3 "$tmp/info" | tr '\n' ' ')"

step "base images"
"$src/docker/make-base-image" || fail "docker/make-base-image"

step "podman build"
rev=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
version=$(sed -n 's/^project(poolwatch VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
b0=$(date +%s)
podman build --pull=never --isolation=chroot --format docker \
  --build-arg POOLWATCH_REVISION="$rev" --build-arg POOLWATCH_VERSION="$version" \
  -t "$tag" "$src" >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log" >&2; fail "podman build"; }
built=1
build_s=$(( $(date +%s) - b0 ))

step "image metadata"
label() { podman image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$tag"; }
[ "$(label revision)" = "$rev" ] || fail "label revision is '$(label revision)', want $rev"
[ "$(label version)" = "$version" ] || fail "label version is '$(label version)', want $version (CMakeLists.txt)"
[ -n "$(label source)" ] || fail "no org.opencontainers.image.source label"
user=$(podman image inspect --format '{{.Config.User}}' "$tag")
[ "$user" = "65532:65532" ] || fail "image user is '$user', want 65532:65532"
hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$tag")
echo "$hc" | grep -q '/usr/local/bin/poolwatch-healthcheck' || fail "no HEALTHCHECK in the image (built in OCI format?): $hc"
size=$(podman image inspect --format '{{.Size}}' "$tag")
base_size=$(podman image inspect --format '{{.Size}}' docker.io/library/debian:bookworm-slim)

step "stack and podman run"
"$src/scripts/pgstack" start "$tmp/stack" >/dev/null || fail "pgstack start"
# shellcheck disable=SC1091
. "$tmp/stack/stack.env"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/poolwatch.yaml" <<EOF
web: {listen_address: "127.0.0.1:$port"}
sampling: {interval: 500ms, timeout: 400ms}
targets:
  postgres:
    - {name: img-pg, dsn: "$PG_DSN"}
  pgbouncer:
    - {name: img-pgb, dsn: "$PGB_DSN"}
EOF
chmod 644 "$tmp/poolwatch.yaml"
# Without systemd podman cannot schedule the periodic health timer and says so on stderr (kept in
# run.err, shown on failure); the check itself runs below with `podman healthcheck run`.
podman run -d --name "$ctr" --network=host --read-only \
  -e POOLWATCH_HEALTHCHECK_URL="http://127.0.0.1:$port/healthz" \
  -v "$tmp/poolwatch.yaml:/etc/poolwatch/poolwatch.yaml:ro" "$tag" >/dev/null 2>"$tmp/run.err" \
  || { cat "$tmp/run.err" >&2; fail "podman run"; }
metrics=""
for _ in $(seq 1 150); do
  metrics=$(curl -sf "http://127.0.0.1:$port/metrics" || true)
  if echo "$metrics" | grep -q '^pg_up{.*} 1$' && echo "$metrics" | grep -q '^pgbouncer_up{.*} 1$'; then break; fi
  sleep 0.2
done
echo "$metrics" | grep -E '^(pg_up|pgbouncer_up|poolwatch_build_info)' || true
echo "$metrics" | grep -q '^pg_up{.*} 1$' || { podman logs "$ctr" >&2; fail "no pg_up 1 from the container"; }
echo "$metrics" | grep -q '^pgbouncer_up{.*} 1$' || { podman logs "$ctr" >&2; fail "no pgbouncer_up 1 from the container"; }
echo "$metrics" | grep '^poolwatch_build_info{' | grep -q "revision=\"$rev\"" \
  || fail "poolwatch_build_info does not carry revision $rev: $(echo "$metrics" | grep '^poolwatch_build_info')"
pid=$(podman inspect --format '{{.State.Pid}}' "$ctr")
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[ "$uid" = 65532 ] || fail "poolwatch runs as uid $uid on the host, want 65532"
ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$ctr")
[ "$ro" = true ] || fail "container root file system is not read-only ($ro)"
if podman exec "$ctr" /usr/bin/touch /usr/local/bin/poolwatch-write-test 2>"$tmp/touch.err"; then
  fail "the read-only root file system accepted a write"
fi
grep -qi 'read-only' "$tmp/touch.err" || fail "write refused for another reason: $(cat "$tmp/touch.err")"

step "health check"
podman healthcheck run "$ctr" >"$tmp/hc.out" 2>&1 || fail "podman healthcheck run: $(cat "$tmp/hc.out")"
hc_status=$(podman inspect --format '{{.State.Health.Status}}' "$ctr" 2>/dev/null || podman inspect --format '{{.State.Healthcheck.Status}}' "$ctr")
[ "$hc_status" = healthy ] || fail "health status after a passing check is '$hc_status'"
podman exec "$ctr" /usr/local/bin/poolwatch-healthcheck --url "http://127.0.0.1:$port/readyz" \
  || fail "the helper inside the container failed on /readyz"
if podman exec "$ctr" /usr/local/bin/poolwatch-healthcheck --url "http://127.0.0.1:$port/nope" 2>/dev/null; then
  fail "the helper inside the container passed on a 404"
fi

step "SIGTERM (podman stop -t $grace)"
s0=$(date +%s%N)
podman stop -t "$grace" "$ctr" >/dev/null 2>>"$tmp/run.err" || { cat "$tmp/run.err" >&2; fail "podman stop"; }
stop_ms=$(( ($(date +%s%N) - s0) / 1000000 ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
podman logs "$ctr" >"$tmp/ctr.log" 2>&1 || true
[ "$code" != 137 ] || fail "poolwatch was SIGKILLed after the ${grace}s grace (exit 137); log: $(tail -5 "$tmp/ctr.log")"
[ "$code" = 0 ] || fail "exit code after SIGTERM is $code, want 0; log: $(tail -5 "$tmp/ctr.log")"
grep -q 'received SIGTERM, shutting down' "$tmp/ctr.log" || fail "no SIGTERM line in the log: $(tail -5 "$tmp/ctr.log")"
grep -q 'stopped' "$tmp/ctr.log" || fail "no 'stopped' line in the log"

mb() { awk -v b="$1" 'BEGIN{printf "%.1f MB", b/1000000}'; }
echo "image: $tag size $(mb "$size") (base bookworm-slim $(mb "$base_size")); build ${build_s}s;" \
  "health check: $hc_status; SIGTERM: exit $code after ${stop_ms} ms (grace ${grace}s);" \
  "whole test $(( $(date +%s) - t0 ))s"
