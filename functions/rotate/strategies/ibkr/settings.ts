import { envReader } from "../../../../lib/config.ts";

/** Settings of the IBKR strategy, parsed on first use so a bad value cannot break database rotations. */
export interface IbkrSettings {
  /** TWS API client id used by testSecret's handshake; must differ from the trading application's. */
  verifyClientId: number;
  /** Budget for connect + handshake with the gateway (capped by the Lambda deadline). */
  verifyTimeoutMs: number;
  /**
   * KMS key a staging secret must be encrypted with to be trusted (IBKR_STAGING_KMS_KEY_ID); undefined
   * means the target secret's own key. Its key policy decides who may stage.
   */
  stagingKmsKeyId: string | undefined;
}

/** Default handshake client id: far from the small ids trading applications use (0 is TWS's own). */
export const DEFAULT_VERIFY_CLIENT_ID = 917_001;

/** Parses IBKR_VERIFY_CLIENT_ID, IBKR_VERIFY_TIMEOUT_MS and IBKR_STAGING_KMS_KEY_ID; throws ConfigError naming the variable. */
export function loadIbkrSettings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): IbkrSettings {
  const read = envReader(env);
  return {
    verifyClientId: read.integer("IBKR_VERIFY_CLIENT_ID", {
      fallback: DEFAULT_VERIFY_CLIENT_ID,
      min: 1,
      max: 2_147_483_647,
    }),
    verifyTimeoutMs: read.integer("IBKR_VERIFY_TIMEOUT_MS", { fallback: 10_000, min: 500, max: 120_000 }),
    stagingKmsKeyId: read.optionalString("IBKR_STAGING_KMS_KEY_ID"),
  };
}
