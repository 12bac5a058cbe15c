import { isIP } from "node:net";
import { type AuditEvent, CACHE_ENTRIES } from "../normalise.ts";
import { ipInCidrs, type SecretPolicy } from "../policy.ts";

/** True when the call came through one of the secret's expected VPC endpoints or CIDRs. */
export function fromExpectedOrigin(event: AuditEvent, secret: SecretPolicy): boolean {
  const origins = secret.origins;
  if (!origins) return true;
  const { vpcEndpointId, sourceIp } = event.origin;
  return (
    (vpcEndpointId !== undefined && origins.vpcEndpoints.includes(vpcEndpointId)) ||
    ipInCidrs(sourceIp, origins.cidrs)
  );
}

const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/**
 * A coarse, stable name for where a call came from: the VPC endpoint, else "private network", else the
 * /24 (IPv4) or /48 (IPv6) of a public address; plus the client's family (`aws-cli`, `Boto3`, ...), so
 * stolen credentials used with another tool or from another network show up as a new origin while
 * tasks moving between private addresses or an SDK upgrade do not.
 */
export function originKey(event: AuditEvent): string {
  const { vpcEndpointId, sourceIp, userAgent } = event.origin;
  // Remembered per endpoint (else address) and user agent: a workload reads from the same few places.
  const byAgent = vpcEndpointId ? byEndpoint.get(vpcEndpointId) : byAddress.get(sourceIp ?? "");
  const known = byAgent?.get(userAgent ?? "");
  if (known !== undefined) return known;
  const key = originKeyOf(vpcEndpointId, sourceIp, userAgent);
  if (remembered >= CACHE_ENTRIES) {
    byEndpoint.clear();
    byAddress.clear();
    remembered = 0;
  }
  if (byAgent) byAgent.set(userAgent ?? "", key);
  else if (vpcEndpointId) byEndpoint.set(vpcEndpointId, new Map([[userAgent ?? "", key]]));
  else byAddress.set(sourceIp ?? "", new Map([[userAgent ?? "", key]]));
  remembered++;
  return key;
}

const byEndpoint = new Map<string, Map<string, string>>();
const byAddress = new Map<string, Map<string, string>>();
let remembered = 0;

function originKeyOf(
  vpcEndpointId: string | undefined,
  sourceIp: string | undefined,
  userAgent: string | undefined,
): string {
  const agent = clientFamily(userAgent ?? "unknown");
  let network: string;
  if (vpcEndpointId) network = vpcEndpointId;
  else if (!sourceIp) network = "unknown";
  else if (isIP(sourceIp) === 0) network = sourceIp;
  else if (ipInCidrs(sourceIp, PRIVATE)) network = "private network";
  else if (isIP(sourceIp) === 4) network = `${sourceIp.split(".").slice(0, 3).join(".")}.0/24`;
  else network = `${sourceIp.split(":").slice(0, 3).join(":")}::/48`;
  return `${network} (${agent})`;
}

/** A user agent's first word, up to the first "/" or space (`aws-cli/2.15 ...` -> `aws-cli`). */
function clientFamily(userAgent: string): string {
  for (let at = 0; at < userAgent.length; at++) {
    const char = userAgent.charCodeAt(at);
    if (char === 0x2f || char === 0x20) return userAgent.slice(0, at);
  }
  return userAgent;
}
