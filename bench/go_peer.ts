/**
 * Builds bench/go_tls_peer.go, the Go `crypto/tls` peer of the HTTPS rows and
 * the TLS memory rounds, with `go build` (standard library only, no network):
 * the binary goes to a temporary directory, Go's build cache to the ignored
 * bench/last_run/, so nothing is written into the repository.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * The command that starts the peer (`env GOMAXPROCS=1 BINARY`, certificate
 * and key to be appended, or the test certificate when none are), or
 * undefined, with the reason printed, when `go` is missing or the build
 * fails.
 */
export async function buildGoTlsPeer(
  workDir: string,
): Promise<string[] | undefined> {
  const binary = `${workDir}/go_tls_peer`;
  const goDir = `${ROOT}bench/last_run/go`;
  try {
    const { success, stderr } = await new Deno.Command("go", {
      args: ["build", "-o", binary, "bench/go_tls_peer.go"],
      cwd: ROOT,
      env: {
        GOCACHE: `${goDir}/cache`,
        GOPATH: `${goDir}/path`,
        GOPROXY: "off",
        GOTOOLCHAIN: "local",
        GOFLAGS: "",
      },
      stdin: "null",
      stdout: "null",
    }).output();
    if (!success) {
      console.log(
        `Go peer skipped: go build failed:\n${
          new TextDecoder().decode(stderr)
        }`,
      );
      return undefined;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.log(
      "Go peer skipped: go is not installed (apt-get install golang-go)",
    );
    return undefined;
  }
  // One OS thread running Go code: the one core the other servers get.
  return ["env", "GOMAXPROCS=1", binary];
}
