import { AwsServiceError } from "./errors.ts";
import { userIdentityOf } from "./identity.ts";
import type { ServiceContext, ServiceFactory, WireProtocol } from "./service.ts";
import { escapeXml, queryErrorXml } from "./sns.ts";

/**
 * Just enough AWS STS for "who am I" (`GetCallerIdentity`, query protocol, XML): the caller is the
 * identity of the access key the request was signed with, so `vigil incident` records the identity a test
 * or a person actually used.
 */

const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/";

/** STS's query protocol; a request is STS's when it is signed for the "sts" service (SNS's is form-encoded too). */
const stsQueryProtocol: WireProtocol = {
  signed: true,
  missingAuthenticationCode: "MissingAuthenticationToken",
  operationOf(request) {
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(
      String(request.headers.authorization ?? ""),
    )?.[1];
    if (scope !== "sts" || request.method !== "POST") return undefined;
    return new URLSearchParams(request.body.toString("utf8")).get("Action") ?? "";
  },
  decode: (request) => Object.fromEntries(new URLSearchParams(request.body.toString("utf8"))),
  encode: (output, requestId) => ({
    status: 200,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
    body: (output as { xml: (requestId: string) => string }).xml(requestId),
  }),
  encodeError: (error, requestId) => ({
    status: error.status,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
    body: queryErrorXml(error.code, error.message, error.status, requestId),
  }),
};

/** The sandbox's STS: GetCallerIdentity answers with the signing key's identity. */
export const stsService = ((context: ServiceContext) => ({
  name: "sts",
  protocol: stsQueryProtocol,
  operations: ["GetCallerIdentity"],
  handle(call) {
    if (call.operation !== "GetCallerIdentity") {
      throw new AwsServiceError("InvalidAction", `The sandbox does not implement STS ${call.operation}.`);
    }
    // Set for every signed call (unsigned ones are refused before handle).
    const identity = userIdentityOf(call.identity!, context.accountId);
    const result =
      `<Arn>${escapeXml(String(identity.arn))}</Arn><UserId>${escapeXml(String(identity.principalId))}</UserId>` +
      `<Account>${escapeXml(String(identity.accountId))}</Account>`;
    return {
      xml: (requestId: string) =>
        `<GetCallerIdentityResponse xmlns="${xmlns}"><GetCallerIdentityResult>${result}</GetCallerIdentityResult>` +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    };
  },
  // Not recorded in the sandbox's trail: the scanner reads no STS events.
  faults: {
    throttle: { code: "Throttling", message: "Rate exceeded", status: 400 },
    server: { code: "InternalFailure", message: "Internal Error", status: 500 },
  },
})) satisfies ServiceFactory;
