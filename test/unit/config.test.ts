import { describe, expect, it } from "vitest";
import { envReader } from "../../lib/config.ts";
import { ConfigError } from "../../lib/errors.ts";

describe("envReader", () => {
  it("reads a required string", () => {
    expect(envReader({ NAME: " value " }).string("NAME")).toBe("value");
  });

  it("names the variable when a required one is missing", () => {
    expect(() => envReader({}).string("ALERTS_TOPIC_ARN")).toThrow(
      new ConfigError("ALERTS_TOPIC_ARN", "is required but not set"),
    );
  });

  it("rejects an integer out of range with the bounds", () => {
    expect(() =>
      envReader({ PASSWORD_LENGTH: "3" }).integer("PASSWORD_LENGTH", { min: 8, max: 4096 }),
    ).toThrow("PASSWORD_LENGTH: expected an integer from 8 to 4096, got 3");
  });

  it("rejects a non-integer", () => {
    expect(() => envReader({ N: "1.5" }).integer("N")).toThrow('N: expected an integer, got "1.5"');
  });

  it("accepts decimal digits only, not hexadecimal, exponents or a trailing .0", () => {
    for (const text of ["0x20", "1e3", "32.0", "9007199254740993"]) {
      expect(() => envReader({ N: text }).integer("N")).toThrow(`N: expected an integer, got "${text}"`);
    }
    expect(envReader({ N: " -12 " }).integer("N")).toBe(-12);
  });

  it("uses the fallback when unset", () => {
    expect(envReader({}).integer("N", { fallback: 32 })).toBe(32);
    expect(envReader({}).boolean("B", true)).toBe(true);
    expect(envReader({}).list("L", ["a"])).toEqual(["a"]);
  });

  it("parses booleans and rejects anything else", () => {
    expect(envReader({ B: "off" }).boolean("B", true)).toBe(false);
    expect(() => envReader({ B: "maybe" }).boolean("B", true)).toThrow(
      'B: expected true or false, got "maybe"',
    );
  });

  it("checks ARNs and their service", () => {
    const env = envReader({ TOPIC: "arn:aws:sns:us-east-1:111122223333:alerts", BAD: "alerts" });
    expect(env.arn("TOPIC", "sns")).toBe("arn:aws:sns:us-east-1:111122223333:alerts");
    expect(() => env.arn("TOPIC", "sqs")).toThrow(
      'TOPIC: expected an ARN of service "sqs", got one of "sns"',
    );
    expect(() => env.arn("BAD")).toThrow('BAD: expected an ARN (arn:aws:...), got "alerts"');
  });

  it("checks URLs and enumerations", () => {
    const env = envReader({ URL: "ftp://x", MODE: "loud" });
    expect(() => env.url("URL")).toThrow('URL: expected an http(s) URL, got "ftp://x"');
    expect(() => env.oneOf("MODE", ["quiet", "normal"])).toThrow(
      'MODE: expected one of quiet, normal, got "loud"',
    );
  });

  it("splits lists on commas", () => {
    expect(envReader({ L: "a, b,,c" }).list("L")).toEqual(["a", "b", "c"]);
  });
});
