import { envReader } from "../../lib/config.ts";

/** Rotation settings, read once at cold start. */
export interface RotationSettings {
  /** Length of generated database passwords (GetRandomPassword). */
  passwordLength: number;
  /** Characters generated passwords never contain (GetRandomPassword ExcludeCharacters). */
  excludeCharacters: string;
  /** PEM bundle trusted for database TLS; undefined means the shipped RDS bundle. */
  caBundlePath: string | undefined;
  /** SQS queue that receives `secret.rotated` events and failure findings (the notifier's queue). */
  findingsQueueUrl: string | undefined;
  /** Alternative to the queue: an SNS topic for the same messages. */
  rotationEventsTopicArn: string | undefined;
  /** Time kept in reserve before the Lambda deadline. */
  deadlineReserveMs: number;
}

// Characters that break connection strings, URLs and shell quoting.
export const DEFAULT_EXCLUDE_CHARACTERS = ":/@\"'\\`";

/** Parses the rotate function's environment; throws ConfigError naming the variable. */
export function loadRotationSettings(
  env: Readonly<Record<string, string | undefined>> = process.env,
): RotationSettings {
  const read = envReader(env);
  return {
    passwordLength: read.integer("PASSWORD_LENGTH", { fallback: 32, min: 8, max: 4096 }),
    excludeCharacters: env.EXCLUDE_CHARACTERS ?? DEFAULT_EXCLUDE_CHARACTERS,
    caBundlePath: read.optionalString("DB_CA_BUNDLE_PATH"),
    findingsQueueUrl: read.optionalString("FINDINGS_QUEUE_URL"),
    rotationEventsTopicArn: read.optionalArn("ROTATION_EVENTS_TOPIC_ARN", "sns"),
    deadlineReserveMs: read.integer("DEADLINE_RESERVE_MS", { fallback: 5_000, min: 0, max: 60_000 }),
  };
}

/** Where failures go when the settings themselves do not parse: each destination that is still readable. */
export function fallbackDestinations(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Pick<RotationSettings, "findingsQueueUrl" | "rotationEventsTopicArn"> {
  const read = envReader(env);
  const readable = <T>(value: () => T): T | undefined => {
    try {
      return value();
    } catch {
      return undefined;
    }
  };
  return {
    findingsQueueUrl: readable(() => read.optionalString("FINDINGS_QUEUE_URL")),
    rotationEventsTopicArn: readable(() => read.optionalArn("ROTATION_EVENTS_TOPIC_ARN", "sns")),
  };
}
