// $begin / $end, as in the seed's screen: substituted into the SQL text before it reaches the
// query server or the engine (both see resolved SQL only). A bound is "now", "now-<n><unit>"
// (s, m, h, d, w) or anything Date.parse reads (e.g. 2026-11-30T03:00:00Z).

const RELATIVE = /^now(?:\s*-\s*(\d+)\s*([smhdw]))?$/i;
const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };

export function resolveBound(text: string, now: number = Date.now()): Date {
  const trimmed = text.trim();
  const relative = RELATIVE.exec(trimmed);
  if (relative) {
    const amount = relative[1] ? Number(relative[1]) * UNIT_MS[relative[2].toLowerCase()] : 0;
    return new Date(now - amount);
  }
  const parsed = Date.parse(trimmed);
  if (Number.isNaN(parsed)) {
    throw new Error(`time range: cannot read ${JSON.stringify(text)}; use now, now-5m, now-1h, now-2d or an ISO time such as 2026-11-30T03:00:00Z`);
  }
  return new Date(parsed);
}

export interface TimeRange {
  begin: string;
  end: string;
}

export function resolveRange(from: string, to: string, now: number = Date.now()): TimeRange {
  const begin = resolveBound(from, now);
  const end = resolveBound(to, now);
  if (begin > end) throw new Error(`time range: ${from} (${begin.toISOString()}) is after ${to} (${end.toISOString()})`);
  return { begin: begin.toISOString(), end: end.toISOString() };
}

/** Replaces $begin and $end (not $beginning) with the range's ISO-8601 instants. */
export function substituteTimeRange(sql: string, range: TimeRange): string {
  return sql.replace(/\$(begin|end)\b/g, (_match, name: "begin" | "end") => range[name]);
}
