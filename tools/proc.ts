/**
 * What Linux's /proc says of a process, for the benchmark and the stress
 * run: its resident memory.
 *
 * @module
 */

/**
 * Resident memory of a process in MiB, to a tenth: now (`VmRSS`) or at its
 * peak (`VmHWM`).
 *
 * @throws {Deno.errors.NotFound} when the process is gone.
 */
export function rssMiB(
  pid: number,
  field: "VmRSS" | "VmHWM" = "VmRSS",
): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}
