import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AwsServiceError } from "../../local/errors.ts";
import { getRandomPassword } from "../../local/secrets-manager.ts";

const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const classes = {
  ExcludeLowercase: "abcdefghijklmnopqrstuvwxyz",
  ExcludeUppercase: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  ExcludeNumbers: "0123456789",
  ExcludePunctuation: punctuation,
} as const;

describe("getRandomPassword", () => {
  it("keeps every option of any policy it accepts", () => {
    fc.assert(
      fc.property(
        fc.record({
          PasswordLength: fc.integer({ min: 1, max: 128 }),
          ExcludeCharacters: fc.string({ maxLength: 12 }),
          ExcludeLowercase: fc.boolean(),
          ExcludeUppercase: fc.boolean(),
          ExcludeNumbers: fc.boolean(),
          ExcludePunctuation: fc.boolean(),
          IncludeSpace: fc.boolean(),
          RequireEachIncludedType: fc.boolean(),
        }),
        (options) => {
          let password: string;
          try {
            password = String(getRandomPassword(options).RandomPassword);
          } catch (error) {
            // Only impossible policies are refused.
            expect(error).toBeInstanceOf(AwsServiceError);
            return;
          }
          expect(password).toHaveLength(options.PasswordLength);
          for (const character of options.ExcludeCharacters) expect(password).not.toContain(character);
          if (!options.IncludeSpace) expect(password).not.toContain(" ");
          for (const [option, characters] of Object.entries(classes)) {
            const used = [...password].some((character) => characters.includes(character));
            const available = [...characters].some(
              (character) => !options.ExcludeCharacters.includes(character),
            );
            if (options[option as keyof typeof classes]) expect(used).toBe(false);
            else if (options.RequireEachIncludedType && available) expect(used).toBe(true);
          }
        },
      ),
    );
  });

  it("defaults to 32 characters", () => {
    expect(String(getRandomPassword({}).RandomPassword)).toHaveLength(32);
  });

  it("refuses a length below the number of required types", () => {
    expect(() => getRandomPassword({ PasswordLength: 3 })).toThrow(AwsServiceError);
  });
});
