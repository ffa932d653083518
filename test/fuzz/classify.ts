// What counts as a crash: anything thrown that is not one of mvsr's own one-line errors, and
// mvsr errors that only wrap an internal JavaScript error (a TypeError/RangeError leaking out
// of a parser through a catch-all, e.g. "corrupt or unreadable weights: Cannot read …").

const LEAKED = /corrupt or unreadable weights: |Cannot read propert|is not a function|is not iterable|Invalid typed array length|Invalid array length|Array buffer allocation failed|Maximum call stack|Offset is outside the bounds|out of memory|is not defined|undefined \(reading/;

/** null when `e` is an acceptable refusal, else the reason it is a crash. */
export function crashReason(e: unknown, accept?: (e: Error) => boolean): string | null {
  if (e instanceof Error && accept?.(e)) return null;
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e).slice(0, 200)}`;
  const msg = e.message;
  if (!msg.startsWith('mvsr:')) return `${e.name}: ${msg.split('\n')[0]!.slice(0, 300)}`;
  if (msg.includes('\n')) return `multi-line mvsr error: ${JSON.stringify(msg.slice(0, 300))}`;
  if (LEAKED.test(msg)) return `internal error wrapped as mvsr error: ${msg.slice(0, 300)}`;
  return null;
}

/** A signature to deduplicate crashes: the reason with numbers and quoted names blurred. */
export function crashSignature(reason: string): string {
  return reason.replace(/'[^']*'/g, "'…'").replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 160);
}
