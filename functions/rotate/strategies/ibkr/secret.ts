import * as z from "zod/mini";

/**
 * The IBKR secret (`algo-trade/<env>/ibkr`) and IBKR's own rules, shared by the rotation strategy and
 * `vigil ibkr stage`, so the CLI refuses exactly what the rotation would refuse.
 */

export const ibkrSecretSchema = z.looseObject({
  username: z.string().check(z.minLength(1)),
  password: z.string(),
  account: z.string().check(z.minLength(1)),
  host: z.string().check(z.minLength(1)),
  port: z.number().check(z.int(), z.gte(1), z.lte(65_535)),
  api_key: z.optional(z.string()),
  paper: z.optional(z.boolean()),
  client_id: z.optional(z.number().check(z.int(), z.gte(0))),
});
export type IbkrSecret = z.infer<typeof ibkrSecretSchema>;

/** Parses an IBKR secret's JSON; returns the value or one problem per wrong field (names, never values). */
export function parseIbkrSecret(
  value: unknown,
): { ok: true; secret: IbkrSecret } | { ok: false; problems: string[] } {
  const result = ibkrSecretSchema.safeParse(value);
  if (result.success) return { ok: true, secret: result.data };
  return {
    ok: false,
    // Zod messages describe types and bounds, never the input value.
    problems: result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
  };
}

export const IBKR_PASSWORD_MIN = 6;
export const IBKR_PASSWORD_MAX = 40;

/**
 * IBKR's password rules: 6–40 characters with at least one letter and one digit. Whitespace and
 * control characters are refused too (they do not survive the portal's form or a shell reliably).
 * Returns the broken rules, empty when the password is acceptable; never echoes the password.
 */
export function ibkrPasswordProblems(password: string): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < IBKR_PASSWORD_MIN || length > IBKR_PASSWORD_MAX) {
    problems.push(`must be ${IBKR_PASSWORD_MIN}–${IBKR_PASSWORD_MAX} characters long (it has ${length})`);
  }
  if (!/\p{L}/u.test(password)) problems.push("must contain at least one letter");
  if (!/\p{Nd}/u.test(password)) problems.push("must contain at least one digit");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse.
  if (/[\s\u0000-\u001f\u007f]/u.test(password)) {
    problems.push("must not contain spaces or control characters");
  }
  return problems;
}

/** The standard API ports: IB Gateway 4001 live / 4002 paper, TWS 7496 live / 7497 paper. */
export const IBKR_PORTS = {
  live: { 4001: "IB Gateway (live)", 7496: "TWS (live)" },
  paper: { 4002: "IB Gateway (paper)", 7497: "TWS (paper)" },
} as const;

/**
 * Refuses a standard port of the other trading mode: `paper: true` on a live port (or `paper: false`
 * on a paper port) means the secret points at the wrong gateway. Non-standard ports (a socat relay, a
 * container mapping) are accepted; with `paper` unset nothing is checked.
 */
export function paperPortProblem(secret: Pick<IbkrSecret, "port" | "paper">): string | undefined {
  if (secret.paper === undefined) return undefined;
  const wrong = secret.paper ? IBKR_PORTS.live : IBKR_PORTS.paper;
  const name = (wrong as Record<number, string>)[secret.port];
  if (name === undefined) return undefined;
  const expected = secret.paper ? "4002 (IB Gateway) or 7497 (TWS)" : "4001 (IB Gateway) or 7496 (TWS)";
  return `the secret says paper: ${secret.paper} but port ${secret.port} is the standard ${name} port; use ${expected}, or fix "paper"`;
}
