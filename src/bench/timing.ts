// Timing helpers shared by the benchmark scripts.

/** Run fn `warm` times untimed, then `n` times; returns each run's milliseconds. */
export function timeIt(fn: () => void, warm: number, n: number): number[] {
  for (let i = 0; i < warm; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1));
  return s[i]!;
}

export async function machineDescription(): Promise<{ cpu: string; cores: number; node: string; memGiB: number }> {
  const os = await import('node:os');
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    node: process.versions.node,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}
