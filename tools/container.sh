#!/usr/bin/env bash
# deno task container [build]: merhaba's image from the Dockerfile that
# ships, built with podman and no container registry.
#
#   deno task container build
#       builds the image and keeps it in podman's image storage as
#       localhost/merhaba:VERSION (VERSION from deno.json), then prints the
#       `podman run` command to use. Nothing else is kept.
#   deno task container
#       what CI runs: the same build, kept in a throwaway image store; then
#       runs the image as an operator would (read-only, no capabilities, no
#       new privileges, a memory limit, published on 127.0.0.1 only), checks
#       it and prints its figures; plays deploy/kubernetes.yaml with `podman
#       kube play` (deploy/kube_play.ts); and removes everything it created.
#
# Needs root and Debian's podman, runc and debootstrap (plus catatonit, curl
# and iptables for the checks); what is missing is installed with apt-get.
# No registry is needed: the Dockerfile's base images are build arguments,
# and this script makes local stand-ins for them:
#   - the Deno image: Debian minbase (debootstrap) plus this machine's deno;
#   - the distroless Deno image: deno, the glibc libraries it links, and an
#     /etc/passwd, nothing else.
# The Debian mirror and the npm registry are read from this machine's own
# apt and npm configuration; `deno cache` in the build still reaches npm.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-check}
case "$mode" in
  build | check) ;;
  *)
    printf 'usage: deno task container [build]\n' >&2
    exit 2
    ;;
esac

DENO_VERSION=2.9.6
GREETING="Merhaba dünya!"
BUILD_BASE=localhost/merhaba-standin/deno:$DENO_VERSION
RUNTIME_BASE=localhost/merhaba-standin/deno:distroless-$DENO_VERSION

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || fail "run as root (rootful podman; debootstrap needs root too)"
command -v deno >/dev/null || fail "deno is not installed"
deno_bin=$(readlink -f "$(command -v deno)")
[[ "$("$deno_bin" --version | head -n 1)" == "deno $DENO_VERSION "* ]] ||
  fail "the stand-in images need deno $DENO_VERSION on this machine"
version=$("$deno_bin" eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).version)')
IMAGE=localhost/merhaba:$version

# What is missing is installed from Debian's packages (CI may be a fresh
# machine). catatonit is the pause process of the pods `podman kube play`
# makes; podman recommends it but does not depend on it.
needed=(podman:podman runc:runc debootstrap:debootstrap)
[[ "$mode" == build ]] ||
  needed+=(catatonit:catatonit curl:curl iptables:iptables ip:iproute2)
packages=()
for pair in "${needed[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || packages+=("${pair#*:}")
done
if ((${#packages[@]})); then
  say "installing ${packages[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null || fail "apt-get could not install ${packages[*]}"
fi

# Podman as the caller has it set up: `build` keeps the image there.
caller_conf=${CONTAINERS_CONF-}
caller_storage_conf=${CONTAINERS_STORAGE_CONF-}

work=$(mktemp -d /tmp/merhaba_container.XXXXXX)
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
# The checks' containers use the default bridge network, which leaves a
# bridge, CNI firewall chains and CNI's address records behind; they are
# removed at the end unless they were here before.
had_bridge=$(ip link show cni-podman0 >/dev/null 2>&1 && echo yes || true)
had_chains=$(iptables -S CNI-FORWARD >/dev/null 2>&1 && echo yes || true)
had_cni_state=$([[ -e /var/lib/cni ]] && echo yes || true)
had_image_cache=$([[ -e /var/lib/containers/cache ]] && echo yes || true)
# Podman's configuration, storage, run-time state and network definitions
# live in $work: nothing outside it is changed but, for the checks, the
# bridge, its firewall rules, CNI's records and ip_forward, restored below;
# `build` keeps the image in the caller's storage and nothing else.
mkdir -p "$work/cni"
# Podman's default limits for a container are above what some machines let
# root raise its own to (this project's: an open-files hard limit of 20000
# and no CAP_SYS_RESOURCE); containers get what this process has.
nofile=$(ulimit -Hn)
# A podman image store in the directory $1, with run-time state of its own
# (a store whose state another store's reset removed would lose track of
# its running containers).
make_store() {
  mkdir -p "$1"
  cat >"$1/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
# crun fails on hybrid cgroups here.
runtime = "runc"
tmp_dir = "$1/libpod"
[network]
network_config_dir = "$work/cni"
EOF
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' \
    "$1" "$1" >"$1/storage.conf"
  stores=("$1" "${stores[@]}")
}
# Points podman at the store in the directory $1.
use_store() {
  export CONTAINERS_CONF=$1/containers.conf CONTAINERS_STORAGE_CONF=$1/storage.conf
}
stores=()
make_store "$work/build"
use_store "$work/build"

cleanup() {
  set +e
  # The last store made first: its containers run the kept image.
  for store in "${stores[@]}"; do
    (
      use_store "$store"
      podman pod rm --all --force >/dev/null 2>&1
      podman rm --all --force --time 0 >/dev/null 2>&1
      podman system reset --force >/dev/null 2>&1
    )
  done
  echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward
  [[ -n "$had_bridge" ]] || ip link delete cni-podman0 2>/dev/null
  [[ -n "$had_chains" ]] || remove_cni_chains
  [[ -n "$had_cni_state" ]] || rm -rf /var/lib/cni
  [[ -n "$had_image_cache" || "$mode" == build ]] || rm -rf /var/lib/containers/cache
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

# podman with the caller's own configuration and image storage.
caller_podman() {
  (
    if [[ -n "$caller_conf" ]]; then export CONTAINERS_CONF=$caller_conf; else unset CONTAINERS_CONF; fi
    if [[ -n "$caller_storage_conf" ]]; then
      export CONTAINERS_STORAGE_CONF=$caller_storage_conf
    else
      unset CONTAINERS_STORAGE_CONF
    fi
    podman "$@"
  )
}

free_port() {
  "$deno_bin" eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();'
}
free_udp_port() {
  "$deno_bin" eval --unstable-net 'const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }); console.log(s.addr.port); s.close();'
}

# Waits until `curl` on a URL prints the greeting, at most 30 s.
wait_for_greeting() {
  for _ in $(seq 150); do
    [[ "$(curl -s --max-time 1 "$1" || true)" == "$GREETING" ]] && return 0
    sleep 0.2
  done
  return 1
}

# Sends "hi" in a datagram to 127.0.0.1:$1 until the greeting comes back,
# at most 20 tries a second apart, each from a new port (a datagram sent
# before the published port's forwarding was in place could leave a
# connection-tracking entry that loses the next ones from the same port).
wait_for_datagram() {
  timeout 60 "$deno_bin" run --allow-net --unstable-net - "$1" "$GREETING" <<'EOF'
const [port, greeting] = [Number(Deno.args[0]), Deno.args[1]];
for (let i = 0; i < 20; i++) {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const receiving = socket.receive();
  receiving.catch(() => {});
  await socket.send(new TextEncoder().encode("hi\n"), { transport: "udp", hostname: "127.0.0.1", port });
  let timer = 0;
  const late = new Promise<undefined>((resolve) => timer = setTimeout(resolve, 1000));
  const received = await Promise.race([receiving, late]);
  clearTimeout(timer);
  socket.close();
  if (received && new TextDecoder().decode(received[0]) === greeting) Deno.exit(0);
}
Deno.exit(1);
EOF
}

mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[[ -n "$mirror" ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[[ -n "$mirror" ]] || fail "no Debian mirror in this machine's apt configuration"

started=$(date +%s)
say "stand-in for the Deno image: debootstrap minbase bookworm + deno $DENO_VERSION"
rootfs=$work/rootfs
timeout 600 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  fail "debootstrap failed: $(tail -n 5 "$work/debootstrap.log")"
install -m 755 "$deno_bin" "$rootfs/usr/local/bin/deno"
tar -C "$rootfs" -c . | podman import --quiet - "$BUILD_BASE" >/dev/null

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
tar -C "$runtime" -c . | podman import --quiet - "$RUNTIME_BASE" >/dev/null

say "podman build (the Dockerfile that ships; base images as build arguments)"
# DENO_CERT and NPM_CONFIG_REGISTRY are the Dockerfile's optional build
# arguments; both are passed, so podman does not warn that they are missing.
# NPM_CONFIG_REGISTRY: the registry npm uses here (empty: Deno's default).
# DENO_CERT: this machine's CA bundle, mounted read-only for the build. These
# machines reach npm through a proxy whose CA is in that bundle; elsewhere it
# only adds the system's authorities to Deno's own. A fact of the machine, so
# it is passed here, not written in the Dockerfile.
registry=$(npm config get registry 2>/dev/null || true)
ca_bundle=/etc/ssl/certs/ca-certificates.crt
build_args=(--build-arg "DENO_IMAGE=$BUILD_BASE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE"
  --build-arg "NPM_CONFIG_REGISTRY=$registry")
if [[ -f "$ca_bundle" ]]; then
  build_args+=(--build-arg "DENO_CERT=$ca_bundle" --volume /etc/ssl/certs:/etc/ssl/certs:ro)
else
  build_args+=(--build-arg DENO_CERT=/dev/null) # an empty bundle: Deno's own authorities only
fi
build_started=$(date +%s)
# --network host: `deno cache` reaches npm with no bridge, firewall rules or
# CNI records made for it.
timeout 600 podman build --format docker --quiet --network host "${build_args[@]}" \
  --tag "$IMAGE" . >"$work/build.log" 2>&1 ||
  fail "podman build failed: $(tail -n 20 "$work/build.log")"
image_mb=$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f", $1 / 1e6}')
echo "built in $(($(date +%s) - build_started)) s; image $image_mb MB"

# The image leaves the build's store for the caller's (CI: a throwaway one)
# as a docker archive, which keeps the HEALTHCHECK; the stand-ins and the
# build stage stay behind and are removed with $work.
if [[ "$mode" == check ]]; then
  make_store "$work/kept"
  caller_conf=$work/kept/containers.conf
  caller_storage_conf=$work/kept/storage.conf
fi
podman save --quiet --format docker-archive --output "$work/image.tar" "$IMAGE" >/dev/null
caller_podman load --quiet --input "$work/image.tar" >/dev/null ||
  fail "podman load into the caller's image storage failed"
rm "$work/image.tar"

# The image starts with the caller's podman as it is set up, or else with
# the limits this process has (see default_ulimits above): the printed
# command is one that has just worked. `--version` shows that merhaba
# starts; it prints it and exits.
starts() {
  [[ "$(caller_podman run --rm --network none "$@" "$IMAGE" --version 2>"$work/try.log")" == "merhaba $version" ]]
}
run_flags=()
if ! starts; then
  grep -q rlimit "$work/try.log" || fail "the image does not start: $(cat "$work/try.log")"
  run_flags=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  starts "${run_flags[@]}" || fail "the image does not start: $(cat "$work/try.log")"
fi

if [[ "$mode" == build ]]; then
  say "kept $IMAGE ($image_mb MB) in podman's image storage, in $(($(date +%s) - started)) s"
  echo "Run it (published on this machine only; -e PORT=9000 -p 127.0.0.1:9000:9000 moves it):"
  echo "  podman run --rm ${run_flags[*]:+${run_flags[*]} }-p 127.0.0.1:8080:8080 $IMAGE"
  echo "Remove it: podman rmi $IMAGE"
  exit 0
fi

# The checks use the kept image, as a user would.
use_store "$work/kept"

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

# As the image's HEALTHCHECK counts: unhealthy after 3 failures in a row
# (one probe is a Deno start, which can pass its 3 s on a busy machine).
healthy() {
  for _ in 1 2 3; do
    podman healthcheck run "$1" >/dev/null 2>>"$work/health.log" && return 0
  done
  return 1
}
healthy merhaba-check || fail "the image's health check failed: $(cat "$work/health.log")"
echo "podman healthcheck run -> healthy"

pid=$(podman inspect --format '{{.State.Pid}}' merhaba-check)
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[[ "$uid" == 65532 ]] || fail "merhaba runs as uid $uid, not 65532"
echo "runs as uid $uid"

memory_mb() {
  podman stats --no-stream --format '{{.MemUsage}}' "$1" | awk '{print $1}'
}
idle=$(memory_mb merhaba-check)
timeout 120 "$deno_bin" run --allow-net - "$port" <<'EOF'
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
healthy merhaba-check-port || fail "the health check did not follow PORT: $(cat "$work/health.log")"
echo "PORT=9090 served, and the health check followed it"
podman rm --force --time 0 merhaba-check merhaba-check-port >/dev/null 2>&1

# docs/deploy.md, "Several listeners and UDP": UDP published with /udp; the
# image's health check holds while a TCP --listen is on PORT; a UDP-only
# server fails it, and passes the health command the page gives.
say "--listen :8080 --listen udp://:8053, published with /udp"
port3=$(free_port)
udp3=$(free_udp_port)
podman run --detach --name merhaba-check-listen "${hardened[@]}" "${scheduling[@]}" \
  --publish "127.0.0.1:$port3:8080" --publish "127.0.0.1:$udp3:8053/udp" \
  "$IMAGE" --listen :8080 --listen udp://:8053 >/dev/null 2>"$work/run.log" ||
  fail "podman run failed: $(cat "$work/run.log")"
wait_for_greeting "http://127.0.0.1:$port3/" || fail "--listen :8080 was not served"
wait_for_datagram "$udp3" ||
  fail "no greeting back from udp 127.0.0.1:$udp3: $(podman logs merhaba-check-listen 2>&1 | tail -n 5)"
healthy merhaba-check-listen || fail "the health check failed with a TCP --listen on PORT: $(cat "$work/health.log")"
echo "TCP and a datagram through 127.0.0.1:$udp3/udp greeted; the image's health check passed (TCP on PORT)"

say "--listen udp://:8053 alone: the image's health check, then the page's"
udp4=$(free_udp_port)
podman run --detach --name merhaba-check-udp "${hardened[@]}" "${scheduling[@]}" \
  --publish "127.0.0.1:$udp4:8053/udp" "$IMAGE" --listen udp://:8053 >/dev/null 2>"$work/run.log" ||
  fail "podman run failed: $(cat "$work/run.log")"
wait_for_datagram "$udp4" || fail "no greeting back from udp 127.0.0.1:$udp4"
! podman healthcheck run merhaba-check-udp >/dev/null 2>&1 ||
  fail "the image's health check passed with nothing on PORT"
echo "the image's health check fails with no TCP listener on PORT, as docs/deploy.md says"
# As docs/deploy.md gives it: exec form (the image has no shell), with the
# image's timings, which an overriding --health-cmd resets.
udp_check='["/bin/deno", "run", "--cached-only", "--lock=/app/deno.lock", "--frozen", "--no-code-cache", "--allow-net", "/app/main.ts", "--probe", "udp://127.0.0.1:8053", "--timeout", "2"]'
podman run --detach --name merhaba-check-udp-health "${hardened[@]}" --health-cmd "$udp_check" \
  --health-interval 10s --health-timeout 3s --health-start-period 5s --health-retries 3 \
  "$IMAGE" --listen udp://:8053 >/dev/null 2>"$work/run.log" ||
  fail "podman run failed: $(cat "$work/run.log")"
sleep 1
healthy merhaba-check-udp-health || fail "the UDP health command failed: $(cat "$work/health.log")"
echo "with --health-cmd probing udp://127.0.0.1:8053: healthy"
podman rm --force --time 0 merhaba-check-listen merhaba-check-udp merhaba-check-udp-health >/dev/null 2>&1

say "podman kube play deploy/kubernetes.yaml (deploy/kube_play.ts)"
timeout 300 "$deno_bin" run --allow-run=podman --allow-net --allow-read --allow-write \
  --allow-env=LOG_TOKENS,LOG_STREAM --unstable-net \
  --frozen --lock=tests/deno.lock deploy/kube_play.ts "$IMAGE" ||
  fail "podman kube play of deploy/kubernetes.yaml"

say "passed in $(($(date +%s) - started)) s: image $image_mb MB; memory idle $idle, after a burst $burst"
