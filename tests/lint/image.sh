#!/usr/bin/env bash
# The Dockerfile, checked without a Docker engine:
#  - its shape: build on debian:bookworm, run on bookworm-slim (ARG BUILD_IMAGE / RUNTIME_IMAGE,
#    pinnable by digest), with the same scripts CI runs, OCI labels, the revision build argument,
#    non-root USER, EXPOSE 9930, ENTRYPOINT poolwatch, an exec-form (shell-free) HEALTHCHECK;
#  - its runtime package list against the built binary: every library `ldd` resolves comes from a
#    listed package or one of their dependencies, every directly NEEDED library from a listed
#    package, and every listed package exists in Debian;
#  - the build stage's cmake options configure;
#  - the static health-check helper, built as the Dockerfile builds it, against the real
#    poolwatch binary: 0 on /healthz, 1 on a 404, 1 on a closed port, and --sleep waits.
set -euo pipefail
src=${POOLWATCH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${POOLWATCH_BIN:-$src/build/exporter/poolwatch}
df=$src/Dockerfile
tmp=$(mktemp -d)
pw_pid=""
cleanup() {
  [ -n "$pw_pid" ] && kill "$pw_pid" 2>/dev/null && wait "$pw_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- Shape.
grep -qx 'ARG BUILD_IMAGE=docker.io/library/debian:bookworm' "$df" || fail "build base is not debian:bookworm"
grep -qx 'ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim' "$df" || fail "runtime base is not debian:bookworm-slim"
grep -qx 'FROM ${BUILD_IMAGE} AS build' "$df" || fail "build stage is not FROM \${BUILD_IMAGE}"
grep -qx 'FROM ${RUNTIME_IMAGE}' "$df" || fail "runtime stage is not FROM \${RUNTIME_IMAGE}"
for l in source version revision; do
  grep -q "org.opencontainers.image.$l=" "$df" || fail "no org.opencontainers.image.$l label"
done
grep -q -- '-DPOOLWATCH_REVISION=${POOLWATCH_REVISION}' "$df" || fail "the build stage does not pass the revision build argument to cmake"
grep -q '^RUN scripts/install-deps --build-only$' "$df" || fail "build stage does not run scripts/install-deps --build-only"
grep -q '^RUN scripts/build ' "$df" || fail "build stage does not run scripts/build"
user=$(awk '/^FROM \$\{RUNTIME_IMAGE\}/{r=1} r&&/^USER /{print $2}' "$df" | tail -1)
case "${user%%:*}" in ""|0|root) fail "runtime USER is '${user}', not a non-root user" ;; esac
grep -qx 'EXPOSE 9930' "$df" || fail "no EXPOSE 9930"
grep -qx 'ENTRYPOINT \["/usr/local/bin/poolwatch"\]' "$df" || fail "ENTRYPOINT is not [\"/usr/local/bin/poolwatch\"]"
hc=$(awk '/^HEALTHCHECK/{h=1} h{printf "%s ", $0} h&&!/\\$/{exit}' "$df")
echo "$hc" | grep -q 'CMD \["/usr/local/bin/poolwatch-healthcheck"' \
  || fail "HEALTHCHECK is not the exec-form (shell-free) helper: $hc"
grep -q '9930/healthz' "$src/docker/poolwatch-healthcheck.c" || fail "helper's default URL is not port 9930"

# --- Runtime packages vs ldd.
pkgs=$(awk '/# runtime-packages: begin/{r=1;next} /# runtime-packages: end/{r=0} r' "$df" \
  | grep -E '^\s+[a-z0-9][a-z0-9.+-]+\s*\\?$' | tr -d ' \\' | sort -u)
[ -n "$pkgs" ] || fail "no runtime package list between the runtime-packages markers"
echo "runtime packages: $(echo $pkgs)"
if ! apt-cache show $pkgs >/dev/null 2>&1; then
  for p in $pkgs; do
    apt-cache show "$p" >/dev/null 2>&1 || fail "runtime package $p is not a Debian package here"
  done
fi
# Everything the listed packages pull in (Depends and Pre-Depends, recursively).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $pkgs 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)

declare -A owners
owner() { # library path -> Debian package (from the one dpkg -S lookup below)
  local f=$1
  for cand in "$f" "$(realpath "$f")" "/usr$f" "${f#/usr}"; do
    [ -n "${owners[$cand]:-}" ] && { echo "${owners[$cand]}"; return; }
  done
}
[ -x "$bin" ] || fail "no built binary at $bin"
ldd "$bin" > "$tmp/ldd" || fail "ldd $bin"
# The TLS compatibility objects poolwatch loads from ../lib/poolwatch (exporter/tls_compat): the
# image must ship them there, and what they load must come from the listed packages too.
compat=$(cd "$(dirname "$bin")/../lib/poolwatch" 2>/dev/null && ls libpoolwatch-*-compat.so || true)
[ -n "$compat" ] || fail "no TLS compatibility objects in $(dirname "$bin")/../lib/poolwatch"
for so in $compat; do
  ldd "$(dirname "$bin")/../lib/poolwatch/$so" >> "$tmp/ldd" || fail "ldd $so"
done
grep -qx 'COPY --from=build /out/lib/poolwatch/ /usr/local/lib/poolwatch/' "$df" \
  || fail "the runtime stage does not copy the TLS compatibility objects to /usr/local/lib/poolwatch"
if grep -q "not found" "$tmp/ldd"; then fail "unresolved libraries: $(grep 'not found' "$tmp/ldd")"; fi
if grep -qE 'lib(asan|ubsan|tsan)' "$tmp/ldd"; then
  echo "skipped: $bin is a sanitizer build; the image ships a plain one"; exit 0
fi
cands=()
# ldd prints a library as "soname => /path (addr)" and the dynamic loader as "/path (addr)"; the
# loader is NEEDED directly when libstdc++ is linked in (POOLWATCH_STATIC_CXX).
for f in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$tmp/ldd"); do
  cands+=("$f" "$(realpath "$f")" "/usr$f" "${f#/usr}")
done
while IFS= read -r line; do  # "pkg:arch: /path" (one dpkg -S for all: it is slow per call)
  owners["${line##*: }"]=${line%%:*}
done < <(dpkg -S "${cands[@]}" 2>/dev/null | grep -v ', ')
missing=()
used=()
while read -r lib; do
  p=$(owner "$lib")
  [ -n "$p" ] || { missing+=("$lib (no package owns it)"); continue; }
  used+=("$p")
  echo "$closure" | grep -qx "$p" || missing+=("$lib from $p")
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3}' "$tmp/ldd")
[ ${#missing[@]} -eq 0 ] || fail "libraries the image would lack (add their packages to the Dockerfile): ${missing[*]}"
# Directly needed libraries must come from packages the Dockerfile names, not by accident.
for soname in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
  path=$(awk -v s="$soname" '$1 == s && $3 ~ /^\// {print $3; exit}
                            $1 ~ /^\// && $1 ~ ("/" s "$") {print $1; exit}' "$tmp/ldd")
  [ -n "$path" ] || fail "$soname (NEEDED) is not in ldd's output"
  p=$(owner "$path")
  echo "$pkgs" | grep -qx "$p" || fail "$soname (NEEDED) comes from $p, which the Dockerfile does not list"
done
for p in $pkgs; do
  case $p in ca-certificates) continue ;; esac  # not a library: Slack over HTTPS needs it
  printf '%s\n' "${used[@]}" | grep -qx "$p" \
    || echo "note: $p is listed but this binary does not load it (fine if a linked-later feature needs it)"
done
echo "ldd: every library is provided by the listed packages"

# --- The build stage's cmake options.
build_args=$(grep -o 'scripts/build build [^&\\]*' "$df" | head -1 | sed 's/scripts\/build build //')
cmake -S "$src" -B "$tmp/cmake" $build_args >/dev/null || fail "cmake does not configure with: $build_args"

# --- The health-check helper against the real binary.
cc -O2 -Wall -Wextra -Werror -static -s -o "$tmp/hc" "$src/docker/poolwatch-healthcheck.c" \
  || fail "the health-check helper does not build statically"
! readelf -l "$tmp/hc" | grep -q INTERP || fail "the helper is not static (it has a dynamic loader)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A target that is down: /healthz must still be 200 (it never depends on the databases).
cat > "$tmp/pw.yaml" <<EOF
sampling: {interval: 200ms, timeout: 150ms}
targets:
  pgbouncer:
    - name: gone
      dsn: "host=127.0.0.1 port=$dead dbname=pgbouncer user=stats"
EOF
"$bin" --config.file="$tmp/pw.yaml" --web.listen-address=127.0.0.1:$port 2>"$tmp/pw.log" &
pw_pid=$!
ok=0
for _ in $(seq 1 100); do
  if "$tmp/hc" --url "http://127.0.0.1:$port/healthz" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { cat "$tmp/pw.log" >&2; fail "helper never saw /healthz 200"; }
POOLWATCH_HEALTHCHECK_URL="http://127.0.0.1:$port/readyz" "$tmp/hc" || fail "helper: env URL /readyz"
if "$tmp/hc" --url "http://127.0.0.1:$port/no-such-path" 2>"$tmp/err"; then fail "helper accepted a 404"; fi
grep -q "404" "$tmp/err" || fail "helper's 404 message: $(cat "$tmp/err")"
kill "$pw_pid"; wait "$pw_pid" 2>/dev/null || true; pw_pid=""
if "$tmp/hc" --url "http://127.0.0.1:$port/healthz" 2>/dev/null; then fail "helper passed on a closed port"; fi
start=$(date +%s%N)
"$tmp/hc" --sleep 0.5 || fail "helper --sleep"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -ge 450 ] || fail "--sleep 0.5 returned after ${elapsed}ms"
echo "image: ok"
