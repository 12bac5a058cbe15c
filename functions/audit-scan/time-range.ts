import { ScanInputError } from "./errors.ts";

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * Reads a time bound as the CLI takes it: an ISO date or date-time (`2026-11-01`, `2026-11-01T12:00Z`)
 * or a duration back from now (`30m`, `12h`, `7d`, `2w`). option names the flag in the error.
 */
export function parseTimeBound(text: string, option: string, now: Date = new Date()): Date {
  const relative = /^(\d+)([mhdw])$/.exec(text.trim());
  if (relative)
    return new Date(now.getTime() - Number(relative[1]) * (UNITS[relative[2] as string] as number));
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    // CloudTrail times are UTC: a date-time without an offset is read as UTC too.
    const iso = text.trim().replace(" ", "T");
    const at = Date.parse(/T[\d:.]+$/.test(iso) ? `${iso}Z` : iso);
    if (!Number.isNaN(at)) return new Date(at);
  }
  throw new ScanInputError(
    `${option}: expected a date (2026-11-01), a date-time (2026-11-01T12:00:00Z) or a duration (30m, 12h, 7d, 2w), got "${text}"`,
  );
}
