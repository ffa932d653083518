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

/** The vector extensions a native peer (onnxruntime-node, TFLite's XNNPACK) can use: its speed depends on them. */
const ISA_FLAGS: [string, string][] = [
  ['avx2', 'AVX2'], ['fma', 'FMA'], ['avx512f', 'AVX-512'], ['avx512_vnni', 'AVX-512 VNNI'], ['avx_vnni', 'AVX-VNNI'],
  ['avx512_bf16', 'AVX-512 BF16'], ['amx_int8', 'AMX-INT8'], ['asimd', 'NEON'], ['asimddp', 'NEON dot product'], ['i8mm', 'NEON i8mm'], ['sve', 'SVE'],
];

export async function machineDescription(): Promise<{ cpu: string; isa: string[]; cores: number; node: string; memGiB: number }> {
  const os = await import('node:os');
  const cpus = os.cpus();
  let flags = new Set<string>();
  try {
    const info = (await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8');
    flags = new Set((/^(?:flags|Features)\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  } catch { /* not Linux: no flags to report */ }
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    isa: ISA_FLAGS.filter(([f]) => flags.has(f)).map(([, name]) => name),
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    node: process.versions.node,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

/** "AMD EPYC (AVX2, FMA, AVX-512), 2 cores" */
export function describeMachine(m: { cpu: string; isa?: string[]; cores: number }): string {
  return `${m.cpu}${m.isa?.length ? ` (${m.isa.join(', ')})` : ''}, ${m.cores} cores`;
}
