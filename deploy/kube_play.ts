/**
 * `podman kube play` of deploy/kubernetes.yaml, against the image that
 * `deno task container` built: the pod starts from that image, its probes'
 * GETs pass, the greeting arrives through the published ports (TCP, and a
 * datagram back through the UDP one), and a stop lets in-flight clients
 * finish while merhaba logs a clean stop. Podman is
 * not Kubernetes: what it ignores or does otherwise is measured and printed,
 * and deploy/deploy_test.ts checks the whole manifest against the Kubernetes
 * schemas.
 *
 *   deno run --allow-run=podman --allow-net --allow-read --allow-write \
 *     --allow-env=LOG_TOKENS,LOG_STREAM --unstable-net --lock=tests/deno.lock \
 *     deploy/kube_play.ts localhost/merhaba:1.0.0
 *
 * Run as root by `deno task container`, with the podman set up there
 * (`--unstable-net`: the UDP datagram). The manifest is played from a
 * temporary copy that differs in two places only: one replica, not three,
 * and each of its ports (TCP and UDP) published on 127.0.0.1 at a free port.
 * Podman makes every replica and publishes each one's containerPorts on the
 * host, on every interface when no hostPort is given, so three would
 * collide on one port.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseAllDocuments, stringify } from "npm:yaml@2.9.1";
import { sleep, TIMED_OUT, withTimeout } from "../lib/timers.ts";
import { decode, encode, readToEnd, writeAll } from "../tests/test_client.ts";

const MANIFEST = new URL("kubernetes.yaml", import.meta.url);
/** A bound for any one podman command. */
const COMMAND_MS = 60_000;

// deno-lint-ignore no-explicit-any
type Manifest = any;

/** The manifest's objects as YAML again, its Deployment edited by `edit`. */
export function editedManifest(
  text: string,
  edit: (deployment: Manifest) => void,
): string {
  const objects = parseAllDocuments(text).map((document) => document.toJS());
  const deployment = objects.find((object) => object.kind === "Deployment");
  assert.ok(deployment, "the manifest has a Deployment");
  edit(deployment);
  return objects.map((object) => stringify(object)).join("---\n");
}

/**
 * The copy podman plays: one replica, each of its ports published on
 * 127.0.0.1 at the host port of `hostPorts` in the same place; everything
 * else as written.
 */
export function playableCopy(text: string, hostPorts: number[]): string {
  return editedManifest(text, (deployment) => {
    deployment.spec.replicas = 1;
    const [container, ...others] = deployment.spec.template.spec.containers;
    assert.equal(others.length, 0, "one container");
    assert.equal(
      container.ports.length,
      hostPorts.length,
      "a host port for each port",
    );
    for (const [i, port] of container.ports.entries()) {
      Object.assign(port, { hostPort: hostPorts[i], hostIP: "127.0.0.1" });
    }
  });
}

/** A port's protocol as Kubernetes reads it: TCP unless it says otherwise. */
export function protocolOf(port: { protocol?: string }): "TCP" | "UDP" {
  const protocol = port.protocol ?? "TCP";
  assert.ok(
    protocol === "TCP" || protocol === "UDP",
    `merhaba serves TCP and UDP, not ${protocol}`,
  );
  return protocol;
}

/** Bytes of a Kubernetes memory quantity in Mi or Gi, as the manifest writes them. */
export function quantityBytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  assert.ok(match, `a quantity in Mi or Gi: ${quantity}`);
  return Number(match[1]) * 2 ** (match[2] === "Mi" ? 20 : 30);
}

/** What podman made of one field or kind of the manifest. */
interface Finding {
  subject: string;
  outcome: "honoured" | "ignored" | "differs";
  detail: string;
}

/** One JSON log line of merhaba (`--log-format json`). */
interface LogEvent {
  event?: string;
  message?: string;
  active?: number;
  served?: number;
  /** Of a `datagram` event: its source, and what it held. */
  peer?: string;
  data?: string;
}

/** Runs podman, bounded in time; its output as text. */
async function podman(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command("podman", {
    args,
    stdin: "null",
    signal: AbortSignal.timeout(COMMAND_MS),
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Runs podman and fails unless it succeeds. */
async function podmanOk(...args: string[]): Promise<string> {
  const result = await podman(...args);
  assert.equal(
    result.code,
    0,
    `podman ${args.join(" ")}: ${result.stderr.trim()}`,
  );
  return result.stdout;
}

/** `podman inspect` of one container or pod, as an object. */
async function inspect(...args: string[]): Promise<Manifest> {
  const parsed = JSON.parse(await podmanOk(...args, "--format", "json"));
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

/**
 * A container's log as `podman logs --follow` streams it, parsed line by
 * line, with waits bounded in time that end early when the stream does.
 */
class LogFollower implements AsyncDisposable {
  readonly events: LogEvent[] = [];
  #child: Deno.ChildProcess;
  #ended = false;
  #changed: () => void = () => {};
  #reading: Promise<void>;

  constructor(container: string) {
    this.#child = new Deno.Command("podman", {
      args: ["logs", "--follow", container],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        try {
          this.events.push(JSON.parse(line));
        } catch {
          this.events.push({ message: line });
        }
      }
      this.#changed();
    }
    this.#ended = true;
    this.#changed();
  }

  /** The first event that `matches`, waiting at most `ms`. */
  async waitFor(
    matches: (event: LogEvent) => boolean,
    ms: number,
  ): Promise<LogEvent | undefined> {
    const deadline = Date.now() + ms;
    while (true) {
      const found = this.events.find(matches);
      if (found || this.#ended || Date.now() >= deadline) return found;
      const changed = new Promise<void>((resolve) => this.#changed = resolve);
      await withTimeout(changed, deadline - Date.now());
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill();
    } catch {
      // It has ended already.
    }
    await this.#reading;
    await this.#child.status;
  }
}

/** Sends a line on an open connection and reads the reply, bounded. */
async function replyOn(conn: Deno.Conn, ms: number): Promise<string> {
  try {
    await writeAll(conn, encode("hello\n"));
    const reply = await withTimeout(readToEnd(conn), ms);
    return reply === TIMED_OUT ? "(no reply in time)" : decode(reply);
  } catch (error) {
    return `(${(error as Error).name})`;
  }
}

/** A new client's reply through the published port, bounded. */
async function greet(port: number, ms = 5_000): Promise<string> {
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return await replyOn(conn, ms);
  } catch (error) {
    return `(${(error as Error).name})`;
  }
}

/** What a stop did to merhaba and to clients in flight. */
interface StopOutcome {
  /** merhaba logged the stop signal (a SIGKILL leaves no line). */
  signalled: boolean;
  /** The reply of a client connected before the stop. */
  before: string;
  /** The reply of a client connected during the drain delay, sent once merhaba stopped accepting. */
  during: string;
  /** Connections in flight when merhaba stopped accepting. */
  inFlight?: number;
  /**
   * merhaba's last line: "stopped after serving N connection(s)", with
   * "(per listener: …)" when it has several.
   */
  stopped?: string;
  seconds: number;
}

/**
 * Stops merhaba with `stop` (a podman command) while clients are in
 * flight, as a rollout does: one connected before the stop signal, one
 * during the drain delay that sends its request only after merhaba has
 * stopped accepting.
 */
async function stopWithClientsInFlight(
  stop: string[],
  container: string,
  port: number,
  drainDelayMs: number,
  graceMs: number,
): Promise<StopOutcome> {
  await using log = new LogFollower(container);
  assert.ok(
    await log.waitFor((event) => event.event === "listening", 10_000),
    "merhaba's listening line",
  );
  using before = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = performance.now();
  const stopping = podman(...stop);
  const signalled = await log.waitFor(
    (event) => event.event === "drain_delay" || event.event === "stopping",
    5_000,
  );
  const outcome: StopOutcome = {
    signalled: signalled !== undefined,
    before: await replyOn(before, graceMs),
    during: "(not tried)",
    seconds: 0,
  };
  if (signalled?.event === "drain_delay") {
    // Halfway through the drain delay: accepted while merhaba still
    // accepts, and with its --timeout still running when it stops.
    await sleep(drainDelayMs / 2);
    using during = await Deno.connect({ hostname: "127.0.0.1", port });
    const stopped = await log.waitFor(
      (event) => event.event === "stopping",
      drainDelayMs + 3_000,
    );
    outcome.inFlight = stopped?.active;
    outcome.during = await replyOn(during, graceMs);
  }
  const result = await stopping;
  assert.equal(
    result.code,
    0,
    `podman ${stop.join(" ")}: ${result.stderr.trim()}`,
  );
  outcome.stopped = (await log.waitFor(
    (event) => event.event === "stopped",
    2_000,
  ))?.message;
  outcome.seconds = (performance.now() - started) / 1000;
  return outcome;
}

/** Waits until the greeting arrives through the published port, at most 30 s. */
async function firstReply(port: number, expected: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  let reply = "";
  while (Date.now() < deadline) {
    reply = await greet(port, 2_000);
    if (reply === expected) break;
    await sleep(200);
  }
  return reply;
}

/**
 * What the kernel says of a container's first process, by `podman top`:
 * host user and group, effective and bounding capabilities, seccomp mode.
 */
async function processView(container: string): Promise<string[]> {
  const lines = (await podmanOk(
    "top",
    container,
    "huser",
    "hgroup",
    "capeff",
    "capbnd",
    "seccomp",
  )).trim().split("\n");
  return lines[1]!.trim().split(/\s+/);
}

/** What the test needs of the manifest, and the names podman gives. */
interface Plan {
  text: string;
  deployment: Manifest;
  pod: Manifest;
  container: Manifest;
  /** `NAME-pod-0`: podman names a Deployment's pods by their index. */
  podName: string;
  /** `POD-CONTAINER`. */
  containerName: string;
  /** The first port, TCP: PORT, the probes and the TCP clients' port. */
  containerPort: number;
  /** Every port of the container, as the manifest writes them. */
  ports: Manifest[];
  drainDelayMs: number;
  graceSeconds: number;
}

function planFor(text: string): Plan {
  const objects: Manifest[] = parseAllDocuments(text).map((document) =>
    document.toJS()
  );
  const deployment = objects.find((object) => object.kind === "Deployment");
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  const podName = `${deployment.metadata.name}-pod-0`;
  const { args, ports } = container;
  assert.equal(protocolOf(ports[0]), "TCP", "the first port is TCP");
  return {
    text,
    deployment,
    pod,
    container,
    podName,
    containerName: `${podName}-${container.name}`,
    containerPort: ports[0].containerPort,
    ports,
    drainDelayMs: 1000 * Number(args[args.indexOf("--drain-delay") + 1]),
    graceSeconds: pod.terminationGracePeriodSeconds,
  };
}

/** What podman made of the manifest, printed at the end. */
class Findings {
  readonly #found: Finding[] = [];

  note(subject: string, outcome: Finding["outcome"], detail: string): void {
    this.#found.push({ subject, outcome, detail });
  }

  print(version: string): void {
    console.log(
      `\nWhat podman ${version} made of deploy/kubernetes.yaml (measured):`,
    );
    const kindsFirst = (finding: Finding) =>
      finding.subject.startsWith("kind ") ? 0 : 1;
    for (const outcome of ["ignored", "differs", "honoured"] as const) {
      const found = this.#found.filter((finding) => finding.outcome === outcome)
        .sort((a, b) => kindsFirst(a) - kindsFirst(b));
      for (const finding of found) {
        console.log(
          `  ${outcome.padEnd(8)}  ${finding.subject}: ${finding.detail}`,
        );
      }
    }
    console.log(
      "  no counterpart on one host, not measured: strategy, topologySpreadConstraints, automountServiceAccountToken, enableServiceLinks",
    );
  }
}

/**
 * Creates, without starting, a copy with security fields a kubelet would
 * refuse, and notes what podman does with them, with three replicas and
 * with a port that has no hostPort.
 */
async function measureCreation(
  plan: Plan,
  file: string,
  findings: Findings,
): Promise<void> {
  await Deno.writeTextFile(
    file,
    editedManifest(plan.text, (edited) => {
      const context = edited.spec.template.spec.securityContext;
      context.runAsUser = 0;
      context.seccompProfile = { type: "Unconfined" };
    }),
  );
  await podmanOk("kube", "play", "--start=false", file);
  const { deployment } = plan;
  const pods = JSON.parse(await podmanOk("pod", "ps", "--format", "json"))
    .map((entry: Manifest) => entry.Name as string)
    .filter((name: string) =>
      name.startsWith(`${deployment.metadata.name}-pod-`)
    )
    .sort();
  findings.note(
    `Deployment replicas: ${deployment.spec.replicas}`,
    pods.length === deployment.spec.replicas ? "honoured" : "differs",
    `${pods.length} pods (${
      pods.join(", ")
    }); each publishes its containerPorts on the host, so the test plays 1`,
  );
  const infra = await inspect(
    "inspect",
    (await inspect("pod", "inspect", plan.podName)).InfraContainerID,
  );
  const published = plan.ports.flatMap((port: Manifest) => {
    const key = `${port.containerPort}/${protocolOf(port).toLowerCase()}`;
    const bindings: Manifest[] = infra.HostConfig.PortBindings[key] ?? [];
    return bindings.map((binding) =>
      `${binding.HostIp || "0.0.0.0"}:${binding.HostPort}/${key.split("/")[1]}`
    );
  });
  findings.note(
    "ports without hostPort",
    published.length ? "differs" : "honoured",
    `published on the host: ${
      published.join(", ") || "nothing"
    } (Kubernetes publishes nothing; the test's copy sets hostPort and hostIP 127.0.0.1)`,
  );
  const created = await inspect("inspect", plan.containerName);
  const root = created.Config.User.startsWith("0:");
  findings.note(
    "securityContext.runAsNonRoot: true",
    root ? "ignored" : "honoured",
    root
      ? "a copy with runAsUser: 0 was created to run as root (a kubelet refuses it)"
      : `a copy with runAsUser: 0 runs as ${created.Config.User}`,
  );
  const unconfined = (created.HostConfig.SecurityOpt ?? []).some((
    option: string,
  ) => option.includes("unconfined"));
  findings.note(
    "securityContext.seccompProfile",
    unconfined ? "honoured" : "ignored",
    unconfined
      ? "a copy with Unconfined runs unconfined"
      : "a copy with Unconfined still gets podman's default profile: the field is not read, and RuntimeDefault holds because that default applies",
  );
  await podmanOk("kube", "down", file);
}

/**
 * Plays the copy and waits for the greeting through the first published
 * port (TCP); notes the kinds podman says it does not support. Returns the
 * greeting podman's merhaba was given.
 */
async function play(
  plan: Plan,
  file: string,
  hostPorts: number[],
  findings: Findings,
): Promise<string> {
  await Deno.writeTextFile(file, playableCopy(plan.text, hostPorts));
  const [hostPort] = hostPorts as [number];
  const played = await podman(
    "--log-level",
    "info",
    "kube",
    "play",
    "--network",
    "podman",
    file,
  );
  assert.equal(played.code, 0, `podman kube play: ${played.stderr.trim()}`);
  const unsupported = [
    ...played.stderr.matchAll(/Kube kind (\w+) not supported/g),
  ].map((match) => match[1]!);
  assert.ok(!unsupported.includes("Deployment"));
  for (const kind of unsupported) {
    findings.note(
      `kind ${kind}`,
      "ignored",
      `"Kube kind ${kind} not supported" (podman --log-level info); checked against the schema by deploy/deploy_test.ts`,
    );
  }
  const { Config } = await inspect("inspect", plan.containerName);
  const greeting: string = Config.Cmd[Config.Cmd.indexOf("--greeting") + 1];
  const reply = await firstReply(hostPort, greeting);
  console.log(`127.0.0.1:${hostPort} (hostPort) -> ${reply}`);
  assert.equal(reply, greeting, "the greeting through the published port");
  return greeting;
}

/**
 * The reply to a datagram of `payload` sent to 127.0.0.1:`port`, tried up
 * to `tries` times a second apart (UDP resends nothing), or undefined. Each
 * try sends from a new port: a datagram sent before podman's forwarding was
 * in place could leave a connection-tracking entry that sends the next ones
 * from the same port astray.
 */
async function datagramReply(
  port: number,
  payload: string,
  tries = 10,
): Promise<string | undefined> {
  for (let i = 0; i < tries; i++) {
    const socket = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      const receiving = socket.receive();
      // Closing the socket below ends a receive still waiting.
      receiving.catch(() => {});
      await socket.send(encode(payload), {
        transport: "udp",
        hostname: "127.0.0.1",
        port,
      });
      const received = await withTimeout(receiving, 1_000);
      if (received !== TIMED_OUT) return decode(received[0]);
    } finally {
      socket.close();
    }
  }
  return undefined;
}

/**
 * Each UDP port through its published port: a datagram gets the greeting
 * back, as from `merhaba --probe udp://127.0.0.1:HOSTPORT`, and merhaba's
 * log says from which source it saw the datagram (its reply limits count
 * per source).
 */
async function checkDatagrams(
  plan: Plan,
  hostPorts: number[],
  greeting: string,
  findings: Findings,
): Promise<void> {
  for (const [i, port] of plan.ports.entries()) {
    if (protocolOf(port) !== "UDP") continue;
    const hostPort = hostPorts[i]!;
    const payload = `kube-play ${hostPort}\n`;
    const reply = await datagramReply(hostPort, payload);
    console.log(`udp://127.0.0.1:${hostPort} (hostPort) -> ${reply}`);
    assert.equal(reply, greeting, "a datagram back through the UDP port");
    const log = (await podmanOk("logs", plan.containerName)).split("\n");
    const seen: LogEvent | undefined = log
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
      .find((event) => event.event === "datagram" && event.data === payload);
    findings.note(
      `ports: ${port.containerPort}/UDP (${port.name})`,
      "honoured",
      `published at 127.0.0.1:${hostPort}/udp: a datagram got the greeting back; merhaba saw it from ${
        seen?.peer ?? "(no log line)"
      }, the source its reply limits count`,
    );
  }
}

/**
 * The running container against the manifest: its image, arguments,
 * environment, identity and privileges (from the kernel, by `podman top`),
 * memory, CPU request and stop timeout.
 */
async function checkContainer(
  plan: Plan,
  image: string,
  findings: Findings,
): Promise<void> {
  const { container, pod, podName, containerName, containerPort } = plan;
  const running = await inspect("inspect", containerName);
  assert.equal(running.State.Status, "running");
  assert.equal((await inspect("pod", "inspect", podName)).State, "Running");
  const built =
    (await podmanOk("image", "inspect", "--format", "{{.Id}}", image)).trim();
  assert.equal(
    running.Image,
    built,
    `image ${container.image} is ${image}, the one just built`,
  );
  console.log(
    `pod ${podName} running; ${container.image} resolved to ${image} (${
      built.slice(0, 12)
    })`,
  );

  const cmd: string[] = running.Config.Cmd;
  const greetingAt = cmd.indexOf("--greeting") + 1;
  const greeting = cmd[greetingAt]!;
  const expanded = !greeting.includes("$(");
  const others = (args: string[]) => args.filter((_, i) => i !== greetingAt);
  assert.deepEqual(others(cmd), others(container.args));
  if (!expanded) assert.deepEqual(cmd, container.args);
  findings.note(
    "args: $(POD_NAME)",
    expanded ? "honoured" : "ignored",
    expanded
      ? `expanded: "${greeting}"`
      : `passed as written, so the greeting is "${greeting}" (Kubernetes puts the pod's name there)`,
  );
  const env = new Set<string>(running.Config.Env);
  assert.ok(env.has(`PORT=${containerPort}`), "PORT from env");
  assert.ok(env.has(`POD_NAME=${podName}`), "POD_NAME from fieldRef");
  findings.note(
    "env: PORT, POD_NAME (fieldRef metadata.name)",
    "honoured",
    `PORT=${containerPort}, POD_NAME=${podName}`,
  );

  const [user, group, effective, bounding, seccomp] = await processView(
    containerName,
  );
  const context = { ...pod.securityContext, ...container.securityContext };
  assert.equal(user, String(context.runAsUser), "runAsUser");
  assert.equal(group, String(context.runAsGroup), "runAsGroup");
  assert.equal(effective, "none", "capabilities drop ALL");
  assert.equal(bounding, "none", "capabilities drop ALL");
  assert.equal(seccomp, "filter", "a seccomp filter");
  assert.ok(
    running.HostConfig.SecurityOpt.includes("no-new-privileges"),
    "allowPrivilegeEscalation: false",
  );
  assert.equal(running.HostConfig.ReadonlyRootfs, true);
  findings.note(
    "securityContext: runAsUser, runAsGroup, allowPrivilegeEscalation, capabilities, readOnlyRootFilesystem",
    "honoured",
    `uid ${user}, gid ${group}, no-new-privileges, no capabilities (effective, bounding), seccomp ${seccomp}, read-only root`,
  );

  const { requests, limits } = container.resources;
  assert.equal(running.HostConfig.Memory, quantityBytes(limits.memory));
  assert.equal(
    running.HostConfig.MemoryReservation,
    quantityBytes(requests.memory),
  );
  findings.note(
    "resources.limits.memory, requests.memory",
    "honoured",
    `cgroup limit ${limits.memory}, reservation ${requests.memory}`,
  );
  const shares = running.HostConfig.CpuShares;
  findings.note(
    `resources.requests.cpu: ${requests.cpu}`,
    shares ? "honoured" : "ignored",
    `CPU shares ${shares || "left at the default"}`,
  );
  const stopTimeout = running.Config.StopTimeout;
  findings.note(
    `terminationGracePeriodSeconds: ${plan.graceSeconds}`,
    stopTimeout === plan.graceSeconds ? "honoured" : "ignored",
    `the container's stop timeout is ${stopTimeout} s`,
  );
}

/**
 * Sends each probe as a kubelet does, from the host to the pod's address
 * within its timeoutSeconds, and notes what podman made of the probes.
 */
async function checkProbes(plan: Plan, findings: Findings): Promise<void> {
  const { container, podName, containerName } = plan;
  const infra = await inspect(
    "inspect",
    (await inspect("pod", "inspect", podName)).InfraContainerID,
  );
  const address = infra.NetworkSettings.Networks.podman.IPAddress;
  for (const name of ["readinessProbe", "livenessProbe"]) {
    const { httpGet, timeoutSeconds } = container[name];
    const port = typeof httpGet.port === "number"
      ? httpGet.port
      : container.ports.find((entry: Manifest) => entry.name === httpGet.port)
        .containerPort;
    const url = `http://${address}:${port}${httpGet.path}`;
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    await response.body?.cancel();
    assert.ok(
      response.status >= 200 && response.status < 400,
      `${name}: ${response.status}`,
    );
    console.log(`${name}: GET ${url} -> ${response.status}`);
  }

  const { Config } = await inspect("inspect", containerName);
  const check = Config.Healthcheck;
  const liveness = container.livenessProbe;
  // Once: three failures in a row would make podman restart merhaba.
  const run = await podman("healthcheck", "run", containerName);
  const seconds = (ns: number) => ns / 1e9;
  const timings = check &&
    seconds(check.Interval) === liveness.periodSeconds &&
    seconds(check.Timeout) === liveness.timeoutSeconds &&
    check.Retries === liveness.failureThreshold &&
    seconds(check.StartPeriod) === (liveness.initialDelaySeconds ?? 0);
  const result = run.stdout.trim() || run.stderr.trim();
  findings.note(
    "livenessProbe",
    run.code === 0 ? "honoured" : "differs",
    check
      ? `became a health check ${JSON.stringify(check.Test.join(" "))}${
        timings ? " with the probe's timings" : ""
      }, on failure: ${Config.HealthcheckOnFailureAction}; podman healthcheck run -> ${result}${
        run.code === 0
          ? ""
          : " (the image has no shell or curl, and the named port became 0); a kubelet's GET passes, above"
      }`
      : "no health check",
  );
  const readiness = JSON.stringify(check?.Test ?? []).includes(
    container.readinessProbe.httpGet.path,
  );
  findings.note(
    "readinessProbe",
    readiness ? "honoured" : "ignored",
    readiness
      ? "a health check"
      : "nothing in the container refers to it; a kubelet's GET passes, above",
  );
}

/**
 * Stops merhaba with clients in flight: with `podman kube down`, as a user
 * would, and where that kills it, again with `podman stop` and the
 * manifest's grace period, as a kubelet would, then `podman kube down`.
 */
async function checkStop(
  plan: Plan,
  file: string,
  hostPort: number,
  greeting: string,
  findings: Findings,
): Promise<void> {
  const { containerName, drainDelayMs, graceSeconds } = plan;
  const stopping = (command: string[]) =>
    stopWithClientsInFlight(
      command,
      containerName,
      hostPort,
      drainDelayMs,
      graceSeconds * 1000,
    );
  const drained = (outcome: StopOutcome) =>
    outcome.signalled && outcome.before === greeting &&
    outcome.during === greeting && outcome.stopped !== undefined;

  let outcome = await stopping(["kube", "down", file]);
  if (drained(outcome)) {
    findings.note(
      "podman kube down",
      "honoured",
      "SIGTERM, then merhaba drained",
    );
  } else {
    findings.note(
      "podman kube down",
      "differs",
      `stops at once with SIGKILL (no SIGTERM line; the client in flight got ${
        JSON.stringify(outcome.before)
      }; podman#22397, fixed upstream in 2024), so the test stops merhaba first with podman stop --time ${graceSeconds}, as a kubelet would with the grace period, then runs podman kube down`,
    );
    // Not `podman pod stop`: podman 4.3 stops the pod's infra container
    // at the same time, which takes the network away from the clients in
    // flight (podman#25169).
    await podmanOk("kube", "play", "--network", "podman", file);
    assert.equal(await firstReply(hostPort, greeting), greeting);
    outcome = await stopping([
      "stop",
      "--time",
      String(graceSeconds),
      containerName,
    ]);
    const exited = await inspect("inspect", containerName);
    assert.equal(exited.State.ExitCode, 0, "merhaba's exit code");
    await podmanOk("kube", "down", file);
  }
  assert.ok(outcome.signalled, "merhaba logged the stop signal");
  assert.equal(
    outcome.before,
    greeting,
    "the client connected before the stop",
  );
  assert.equal(
    outcome.during,
    greeting,
    "the client in flight when merhaba stopped accepting",
  );
  assert.ok((outcome.inFlight ?? 0) >= 1, "a connection was in flight");
  assert.match(
    outcome.stopped ?? "",
    /^stopped after serving \d+ connection\(s\)( \(per listener: [^)]+\))?$/,
  );
  console.log(
    `stop: the client connected before it and the one in flight when merhaba stopped accepting (${outcome.inFlight} in flight) were greeted; "${outcome.stopped}" after ${
      outcome.seconds.toFixed(1)
    } s`,
  );
  const left = JSON.parse(await podmanOk("pod", "ps", "--format", "json"));
  assert.deepEqual(left, [], "podman kube down removed the pod");
}

/** Plays the manifest with podman against `image` and checks the pod; see the module's comment. */
export async function main(args: string[]): Promise<number> {
  const [image] = args;
  if (!image) {
    console.error("usage: deploy/kube_play.ts IMAGE");
    return 2;
  }
  const plan = planFor(await Deno.readTextFile(MANIFEST));
  const findings = new Findings();
  const directory = await Deno.makeTempDir({ prefix: "merhaba_kube_" });
  const variant = `${directory}/variant.yaml`;
  const copy = `${directory}/kubernetes.yaml`;
  const started = performance.now();
  try {
    const version = await podmanOk(
      "version",
      "--format",
      "{{.Client.Version}}",
    );
    await measureCreation(plan, variant, findings);
    const hostPorts = plan.ports.map((port: Manifest) =>
      protocolOf(port) === "UDP" ? freeUdpPort() : freePort()
    );
    const greeting = await play(plan, copy, hostPorts, findings);
    await checkDatagrams(plan, hostPorts, greeting, findings);
    await checkContainer(plan, image, findings);
    await checkProbes(plan, findings);
    await checkStop(plan, copy, hostPorts[0]!, greeting, findings);
    findings.print(version.trim());
    const seconds = (performance.now() - started) / 1000;
    console.log(`passed in ${seconds.toFixed(0)} s`);
    return 0;
  } catch (error) {
    console.error(`FAIL: ${(error as Error).message}`);
    return 1;
  } finally {
    // Whatever is still up after a failure (a second kube down is harmless).
    for (const file of [copy, variant]) {
      if (await exists(file)) await podman("kube", "down", file);
    }
    await Deno.remove(directory, { recursive: true });
  }
}

/** A TCP port that is free on 127.0.0.1 now. */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/** A UDP port that is free on 127.0.0.1 now. */
function freeUdpPort(): number {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  socket.close();
  return (socket.addr as Deno.NetAddr).port;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
