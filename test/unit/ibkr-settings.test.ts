import { describe, expect, it } from "vitest";
import { loadIbkrSettings } from "../../functions/rotate/strategies/ibkr/settings.ts";

describe("loadIbkrSettings", () => {
  it("uses a verification client id far from application ids by default", () => {
    expect(loadIbkrSettings({})).toEqual({ verifyClientId: 917_001, verifyTimeoutMs: 10_000 });
  });

  it("reads the KMS key a staging secret must be encrypted with", () => {
    expect(loadIbkrSettings({ IBKR_STAGING_KMS_KEY_ID: " alias/ibkr-staging " }).stagingKmsKeyId).toBe(
      "alias/ibkr-staging",
    );
  });

  it("names the variable that is wrong", () => {
    expect(() => loadIbkrSettings({ IBKR_VERIFY_CLIENT_ID: "zero" })).toThrow(/IBKR_VERIFY_CLIENT_ID/);
  });
});
