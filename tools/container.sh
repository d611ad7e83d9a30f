#!/usr/bin/env bash
# deno task container: build the image from the Dockerfile that ships, run it
# as an operator would (read-only, no capabilities, no new privileges, a
# memory limit, published on 127.0.0.1 only), check it, print its figures,
# and remove everything it created.
#
# Needs root, podman, runc and debootstrap (Debian: apt-get install podman
# runc debootstrap). No registry is needed: the Dockerfile's base images are
# build arguments, and this script makes local stand-ins for them:
#   - the Deno image: Debian minbase (debootstrap) plus this machine's deno;
#   - the distroless Deno image: deno, the glibc libraries it links, and an
#     /etc/passwd, nothing else.
# The Debian mirror and the npm registry are read from this machine's own
# apt and npm configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
GREETING="Merhaba dünya!"
IMAGE=localhost/merhaba:container-check
BUILD_BASE=localhost/merhaba-standin/deno:$DENO_VERSION
RUNTIME_BASE=localhost/merhaba-standin/deno:distroless-$DENO_VERSION

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || fail "run as root (rootful podman)"
for tool in podman runc debootstrap curl deno; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
deno_bin=$(readlink -f "$(command -v deno)")
[[ "$("$deno_bin" --version | head -n 1)" == "deno $DENO_VERSION "* ]] ||
  fail "the stand-in images need deno $DENO_VERSION on this machine"

work=$(mktemp -d /tmp/merhaba_container.XXXXXX)
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
# The default bridge network leaves a bridge and CNI firewall chains behind;
# they are removed at the end unless they were here before.
had_bridge=$(ip link show cni-podman0 >/dev/null 2>&1 && echo yes || true)
had_chains=$(iptables -S CNI-FORWARD >/dev/null 2>&1 && echo yes || true)
# Podman's own configuration and storage live in $work: nothing outside it
# is changed but the bridge's firewall rules and ip_forward, restored below.
export CONTAINERS_CONF=$work/containers.conf
export CONTAINERS_STORAGE_CONF=$work/storage.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
# The open-files hard limit here is 20000 and CAP_SYS_RESOURCE is missing.
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
# crun fails on hybrid cgroups here.
runtime = "runc"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF

cleanup() {
  set +e
  podman rm --all --force --time 0 >/dev/null 2>&1
  podman rmi --all --force >/dev/null 2>&1
  podman network prune --force >/dev/null 2>&1
  podman system reset --force >/dev/null 2>&1
  echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward
  [[ -n "$had_bridge" ]] || ip link delete cni-podman0 2>/dev/null
  [[ -n "$had_chains" ]] || remove_cni_chains
  rm -rf "$work"
}

remove_cni_chains() {
  iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
  for rule in "PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT" \
    "OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT" \
    "POSTROUTING -m comment --comment CNI\ portfwd\ requiring\ masquerade -j CNI-HOSTPORT-MASQ"; do
    eval "iptables -t nat -D $rule"
  done
  for chain in CNI-FORWARD CNI-ADMIN; do
    iptables -F "$chain" && iptables -X "$chain"
  done
  for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
    iptables -t nat -F "$chain" && iptables -t nat -X "$chain"
  done
} 2>/dev/null
trap cleanup EXIT

free_port() {
  "$deno_bin" eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();'
}

# Waits until `curl` on a URL prints the greeting, at most 30 s.
wait_for_greeting() {
  for _ in $(seq 150); do
    [[ "$(curl -s --max-time 1 "$1" || true)" == "$GREETING" ]] && return 0
    sleep 0.2
  done
  return 1
}

mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[[ -n "$mirror" ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[[ -n "$mirror" ]] || fail "no Debian mirror in this machine's apt configuration"

say "stand-in for the Deno image: debootstrap minbase bookworm + deno $DENO_VERSION"
rootfs=$work/rootfs
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  fail "debootstrap failed: $(tail -n 5 "$work/debootstrap.log")"
install -m 755 "$deno_bin" "$rootfs/usr/local/bin/deno"
tar -C "$rootfs" -c . | podman import - "$BUILD_BASE" >/dev/null

say "stand-in for the distroless Deno image: deno, glibc, /etc/passwd"
runtime=$work/runtime
mkdir -p "$runtime"/{bin,etc,tmp,lib64,lib/x86_64-linux-gnu}
chmod 1777 "$runtime/tmp"
install -m 755 "$deno_bin" "$runtime/bin/deno"
cp -L "$rootfs/lib64/ld-linux-x86-64.so.2" "$runtime/lib64/"
for lib in libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libgcc_s.so.1; do
  cp -L "$rootfs/lib/x86_64-linux-gnu/$lib" "$runtime/lib/x86_64-linux-gnu/"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$runtime/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$runtime/etc/group"
tar -C "$runtime" -c . | podman import - "$RUNTIME_BASE" >/dev/null

say "podman build (the Dockerfile that ships; base images as build arguments)"
registry=$(npm config get registry 2>/dev/null || true)
build_started=$(date +%s)
# These machines reach npm through a proxy whose CA is in /etc/ssl/certs: a
# fact of this machine, so it is passed here, not written in the Dockerfile.
podman build --format docker --quiet \
  --build-arg "DENO_IMAGE=$BUILD_BASE" \
  --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
  --build-arg DENO_CERT=/etc/ssl/certs/ca-certificates.crt \
  ${registry:+--build-arg "NPM_CONFIG_REGISTRY=$registry"} \
  --volume /etc/ssl/certs:/etc/ssl/certs:ro \
  --tag "$IMAGE" . >"$work/build.log" 2>&1 ||
  fail "podman build failed: $(tail -n 20 "$work/build.log")"
image_mb=$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f", $1 / 1e6}')
echo "built in $(($(date +%s) - build_started)) s; image $image_mb MB"

hardened=(--read-only --cap-drop=ALL --security-opt no-new-privileges --memory 160m)
# There is no systemd here to schedule health checks; `podman healthcheck
# run` below runs the image's check on demand.
scheduling=(--health-interval disable)

say "run: ${hardened[*]}, published on 127.0.0.1 only"
port=$(free_port)
podman run --detach --name merhaba-check "${hardened[@]}" "${scheduling[@]}" \
  --publish "127.0.0.1:$port:8080" "$IMAGE" >/dev/null 2>"$work/run.log" ||
  fail "podman run failed: $(cat "$work/run.log")"
wait_for_greeting "http://127.0.0.1:$port/" ||
  fail "curl never got the greeting: $(podman logs merhaba-check 2>&1 | tail -n 5)"
echo "curl http://127.0.0.1:$port/ -> $GREETING"
podman logs merhaba-check 2>&1 | sed -n 1p

podman healthcheck run merhaba-check >/dev/null || fail "the image's health check failed"
echo "podman healthcheck run -> healthy"

pid=$(podman inspect --format '{{.State.Pid}}' merhaba-check)
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[[ "$uid" == 65532 ]] || fail "merhaba runs as uid $uid, not 65532"
echo "runs as uid $uid"

memory_mb() {
  podman stats --no-stream --format '{{.MemUsage}}' "$1" | awk '{print $1}'
}
idle=$(memory_mb merhaba-check)
"$deno_bin" run --allow-net - "$port" <<'EOF'
const port = Number(Deno.args[0]);
let served = 0;
await Promise.all(Array.from({ length: 50 }, async () => {
  for (let i = 0; i < 100; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("hello\n"));
    const reply = await new Response(conn.readable).text();
    if (reply === "Merhaba dünya!") served++;
  }
}));
if (served !== 5000) throw new Error(`${served} of 5000 greeted`);
EOF
burst=$(memory_mb merhaba-check)
echo "container memory (cgroup): idle $idle, after 5000 connections $burst"

say "podman stop drains an in-flight client and exits 0"
exec 3<>"/dev/tcp/127.0.0.1/$port"
sleep 0.5 # the client is accepted before the stop signal
stopped=$(date +%s)
podman stop --time 20 merhaba-check >/dev/null 2>&1 &
stopping=$!
reply=$(timeout 15 cat <&3 || true)
exec 3<&-
wait "$stopping"
code=$(podman inspect --format '{{.State.ExitCode}}' merhaba-check)
[[ "$reply" == "$GREETING" ]] || fail "the in-flight client got '$reply'"
[[ "$code" == 0 ]] || fail "merhaba exited $code after podman stop"
echo "in-flight client greeted; exit 0 after $(($(date +%s) - stopped)) s"
podman logs merhaba-check 2>&1 | tail -n 1 || true

say "-e PORT=9090"
port2=$(free_port)
podman run --detach --name merhaba-check-port "${hardened[@]}" "${scheduling[@]}" --env PORT=9090 \
  --publish "127.0.0.1:$port2:9090" "$IMAGE" >/dev/null 2>"$work/run.log" ||
  fail "podman run failed: $(cat "$work/run.log")"
wait_for_greeting "http://127.0.0.1:$port2/" || fail "PORT=9090 was not honoured"
podman healthcheck run merhaba-check-port >/dev/null ||
  fail "the health check did not follow PORT"
echo "PORT=9090 served, and the health check followed it"

say "passed: image $image_mb MB; memory idle $idle, after a burst $burst"
