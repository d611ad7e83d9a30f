/**
 * What Linux's /proc says of a process, for the benchmark and the stress
 * run: its resident memory, CPU time, descriptors and children. Deno lets a
 * program read /proc only with --allow-all.
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

/**
 * Resident memory of every process in the tree rooted at `root`, summed,
 * in MiB to a tenth (as {@link rssMiB}); a process that ends meanwhile
 * counts nothing.
 */
export function treeRssMiB(
  root: number,
  field: "VmRSS" | "VmHWM" = "VmRSS",
): number {
  let mib = 0;
  for (const pid of processTree(root)) {
    try {
      mib += rssMiB(pid, field);
    } catch {
      // Gone.
    }
  }
  return Math.round(mib * 10) / 10;
}

/**
 * The fields of `/proc/<pid>/stat` after the command name (which may hold
 * spaces and parentheses): `[0]` the state, `[1]` the parent's pid, `[11]`
 * and `[12]` the user and system CPU time in clock ticks.
 */
function statFields(pid: number | string): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds a process has used (user + system). */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Every pid in the tree rooted at `root`, `root` first (nginx forks its worker). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const parent = Number(statFields(entry.name)[1]);
      children.set(parent, [...children.get(parent) ?? [], Number(entry.name)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    tree.push(...children.get(tree[i]!) ?? []);
  }
  return tree;
}

/**
 * On-CPU time of every thread in the tree rooted at `root`, in
 * microseconds (from each thread's `schedstat`, in nanoseconds).
 */
export function treeCpuMicros(root: number): number {
  let nanos = 0;
  for (const pid of processTree(root)) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        const schedstat = Deno.readTextFileSync(
          `/proc/${pid}/task/${task.name}/schedstat`,
        );
        nanos += Number(schedstat.split(" ")[0]);
      }
    } catch {
      // A thread ended while we looked.
    }
  }
  return nanos / 1000;
}

/** How many descriptors a process has open. */
export function openDescriptors(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/**
 * The socket inode of each descriptor of a process that is a socket, in
 * descriptor order: a socket held by two descriptors is listed twice.
 */
export function socketDescriptors(pid: number): string[] {
  const inodes: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith("socket:[")) inodes.push(target.slice(8, -1));
    } catch {
      // Closed while we looked.
    }
  }
  return inodes;
}
