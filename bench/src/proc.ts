import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux we run on). */
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

export interface Memory {
  /** Resident set size now. */
  readonly rssMb: number;
  /** Peak resident set size over the process's life (VmHWM). */
  readonly peakRssMb: number;
}

export function memoryOf(pid: number): Memory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb("VmRSS") / 1024), peakRssMb: Math.round(kb("VmHWM") / 1024) };
}

/** Pids of the processes whose command name (/proc/<pid>/comm) is `comm`. Read-only. */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Busy and total jiffies of the whole machine (all cores), from the first line of /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** A group of processes measured together, e.g. every postgres backend. */
export interface Watched {
  readonly name: string;
  /** The pids to count now (a function: backends come and go). */
  pids(): readonly number[];
}

export interface Usage {
  /** CPU used over the window, in percent of one core (200 = both cores of a 2-core machine). */
  readonly cpuPercent: number;
  /** Highest RSS seen by the sampler over the window (sum over the group's processes). */
  readonly maxRssMb: number;
  /** Lifetime peak RSS at the end of the window (VmHWM; for a group, the sum of its processes'). */
  readonly peakRssMb: number;
}

export interface UsageReport {
  readonly seconds: number;
  /** Busy share of all cores of the machine over the window, in percent of one core. */
  readonly machineCpuPercent: number;
  /** Machine CPU not used by the watched processes: other work on a shared machine (noise). */
  readonly othersCpuPercent: number;
  readonly cores: number;
  readonly processes: Record<string, Usage>;
}

/**
 * Measures CPU and memory of some processes over a window: CPU from /proc/<pid>/stat at both ends,
 * RSS sampled every `intervalMs` in between (and VmHWM, the kernel's own peak, at the end).
 */
export class UsageWindow {
  private readonly startCpu = new Map<string, Map<number, number>>();
  /** Latest CPU seconds read per pid, so a process that exits during the window still counts. */
  private readonly lastCpu = new Map<string, Map<number, number>>();
  private readonly maxRss = new Map<string, number>();
  private readonly peakRss = new Map<string, Map<number, number>>();
  private readonly startedAt = performance.now();
  private readonly startMachine = machineTicks();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly watched: readonly Watched[],
    intervalMs = 250,
  ) {
    for (const group of watched) {
      const cpu = new Map<number, number>();
      for (const pid of group.pids()) cpu.set(pid, cpuSeconds(pid) ?? 0);
      this.startCpu.set(group.name, cpu);
      this.lastCpu.set(group.name, new Map(cpu));
      this.peakRss.set(group.name, new Map());
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    for (const group of this.watched) {
      const last = this.lastCpu.get(group.name)!;
      const peaks = this.peakRss.get(group.name)!;
      let rss = 0;
      for (const pid of group.pids()) {
        const cpu = cpuSeconds(pid);
        if (cpu !== undefined) last.set(pid, cpu);
        const memory = memoryOf(pid);
        if (memory === undefined) continue;
        rss += memory.rssMb;
        peaks.set(pid, Math.max(peaks.get(pid) ?? 0, memory.peakRssMb));
      }
      this.maxRss.set(group.name, Math.max(this.maxRss.get(group.name) ?? 0, rss));
    }
  }

  end(): UsageReport {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const machine = machineTicks();
    const cores = readFileSync("/proc/stat", "utf8")
      .split("\n")
      .filter((line) => /^cpu\d+ /.test(line)).length;
    const processes: Record<string, Usage> = {};
    let ours = 0;
    for (const group of this.watched) {
      const before = this.startCpu.get(group.name)!;
      let used = 0;
      // A process that appeared during the window counts from zero.
      for (const [pid, cpu] of this.lastCpu.get(group.name)!) used += cpu - (before.get(pid) ?? 0);
      ours += used;
      processes[group.name] = {
        cpuPercent: Math.round((used / seconds) * 100),
        maxRssMb: this.maxRss.get(group.name) ?? 0,
        peakRssMb: [...this.peakRss.get(group.name)!.values()].reduce((sum, peak) => sum + peak, 0),
      };
    }
    const totalTicks = machine.total - this.startMachine.total;
    const machineCpuPercent =
      totalTicks <= 0 ? 0 : Math.round(((machine.busy - this.startMachine.busy) / totalTicks) * 100 * cores);
    return {
      seconds: Math.round(seconds * 10) / 10,
      machineCpuPercent,
      othersCpuPercent: Math.max(0, machineCpuPercent - Math.round((ours / seconds) * 100)),
      cores,
      processes,
    };
  }
}
