/*
 * Secret names from secret ARNs, in one place. A full ARN ends in `-` and six random characters that
 * Secrets Manager appends; a canonical ARN (as the scanner builds it) has none, and a name can itself end
 * in six characters after a dash, so the two are told apart by the caller, never guessed.
 */

const SECRET_MARKER = ":secret:";

/** The name in a canonical secret ARN (`arn:...:secret:NAME`, no random suffix); anything else unchanged. */
export function secretNameOf(secretArn: string): string {
  const at = secretArn.indexOf(SECRET_MARKER);
  return at === -1 ? secretArn : secretArn.slice(at + SECRET_MARKER.length);
}

/** The name in a full secret ARN, without the six random characters Secrets Manager appends. */
export function secretNameOfFullArn(secretArn: string): string {
  const at = secretArn.indexOf(SECRET_MARKER);
  if (at === -1 || !secretArn.startsWith("arn:")) return secretArn;
  return secretArn.slice(at + SECRET_MARKER.length).replace(/-[A-Za-z0-9]{6}$/, "");
}
