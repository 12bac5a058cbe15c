/** The notifier's edge: the bounds an SQS message body must respect before anything walks its structure. */
import { ValidationError } from "../../lib/errors.ts";
import { type FindingsQueueMessage, parseQueueMessage } from "../../lib/finding.ts";

// SQS refuses larger bodies, so anything bigger did not come through the queue.
export const MAX_BODY_BYTES = 256 * 1024;
// A finding is an object (1) whose details (2) hold CloudTrail-shaped data: a few levels deep in practice.
// Deeper text is hostile or broken, and every later step (redaction, JSON.stringify, the SDK) recurses.
export const MAX_NESTING_DEPTH = 32;

/** How deeply arrays and objects nest in JSON text, read without parsing (so without recursion). */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c /* \ */) index += 1;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b /* { */ || char === 0x5b /* [ */) deepest = Math.max(deepest, ++depth);
    else if (char === 0x7d /* } */ || char === 0x5d /* ] */) depth -= 1;
  }
  return deepest;
}

/**
 * Parses one findings-queue body after checking its size and nesting, so a hostile body fails here, as
 * one invalid message, instead of overflowing a recursive step later and taking its group down with it.
 */
export function readQueueMessage(body: string): FindingsQueueMessage {
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_BODY_BYTES) {
    throw new ValidationError(`message body is ${bytes} bytes; at most ${MAX_BODY_BYTES} are accepted`);
  }
  const depth = jsonNestingDepth(body);
  if (depth > MAX_NESTING_DEPTH) {
    throw new ValidationError(
      `message body nests ${depth} levels deep; at most ${MAX_NESTING_DEPTH} are accepted`,
    );
  }
  return parseQueueMessage(body);
}
