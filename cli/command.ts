import type { Command } from "commander";
import { describeError, VigilError } from "../lib/errors.ts";
import { redactText } from "../lib/redaction.ts";

/** Adds one subcommand (with its options, help and action) to the `vigil` program. */
export type CommandRegistration = (program: Command) => void;

/** How a command's failure is shown: one line, and whether it is a bug (no user action explains it). */
export interface CommandFailure {
  readonly line: string;
  readonly bug: boolean;
}

// Node's codes for an endpoint that cannot be reached; the SDK passes them through unchanged.
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const CREDENTIAL_ERRORS = new Set(["CredentialsProviderError", "ProviderError", "TokenProviderError"]);
const CREDENTIALS_HINT =
  "set AWS_PROFILE (and run `aws sso login` for SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/**
 * Explains a failure in one redacted line. Vigil's own errors and problems of the machine's AWS setup
 * (no region, no credentials, an unreachable endpoint, a refusal by AWS) say what to fix; anything else
 * is a bug and says so.
 */
export function describeFailure(error: unknown): CommandFailure {
  if (error instanceof VigilError) return { line: describeError(error), bug: false };
  const setup = awsSetupProblem(error);
  if (setup !== undefined) return { line: redactText(setup), bug: false };
  const name = error instanceof Error ? error.name : typeof error;
  const message = describeError(error).split("\n")[0];
  return { line: `unexpected error (a bug in vigil): ${name}: ${message}`, bug: true };
}

/** The SDK's configuration, credential, network and service errors, explained; undefined for others. */
function awsSetupProblem(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { message } = error;
  const code = (error as { code?: unknown }).code;
  // The SDK throws a plain Error for these two, so its message is all there is to recognise.
  if (message === "Region is missing") {
    return "no AWS region configured: set AWS_REGION (e.g. `export AWS_REGION=us-east-1`) or a region in your AWS profile";
  }
  if (message.startsWith("Region not accepted")) {
    return `AWS_REGION is not a region: ${message} (expected e.g. us-east-1)`;
  }
  if (CREDENTIAL_ERRORS.has(error.name)) return `no usable AWS credentials (${message}): ${CREDENTIALS_HINT}`;
  if (code === "ERR_INVALID_URL") {
    return `an AWS endpoint is not a URL (${message}): check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_* (e.g. http://127.0.0.1:4566)`;
  }
  if ((typeof code === "string" && UNREACHABLE_CODES.has(code)) || error.name === "TimeoutError") {
    return `cannot reach AWS (${error.name}: ${message}): check the network, AWS_REGION and AWS_ENDPOINT_URL`;
  }
  // Every SDK service exception carries the request's metadata: AWS answered and refused.
  if ("$metadata" in error && "$fault" in error) {
    return `AWS refused the request: ${error.name}: ${message}`;
  }
  return undefined;
}

/** The redacted stack of error and of each cause, for `--verbose`. */
export function describeStack(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const text =
      current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current);
    lines.push(`${depth === 0 ? "" : "caused by: "}${redactText(text)}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join("\n");
}
