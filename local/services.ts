import { cloudTrailService } from "./cloudtrail-service.ts";
import { dynamoDbService } from "./dynamodb.ts";
import { ecsService } from "./ecs.ts";
import { pagerDutyService } from "./pagerduty.ts";
import { s3Service } from "./s3.ts";
import { secretsManagerService } from "./secrets-manager.ts";
import type { ServiceContext, ServiceFactory } from "./service.ts";
import { snsService } from "./sns.ts";
import { sqsService } from "./sqs.ts";
import { stsService } from "./sts.ts";

/**
 * Every service of the sandbox, by name. A request goes to the first service whose protocol recognises
 * it, in this order. Adding a service: one file exporting a ServiceFactory, and one line here.
 */
export const sandboxServices = {
  pagerduty: pagerDutyService,
  secretsmanager: secretsManagerService,
  cloudtrail: cloudTrailService,
  sqs: sqsService,
  ecs: ecsService,
  dynamodb: dynamoDbService,
  // Before SNS: S3 and STS POSTs may be form-encoded; they are told apart by their signing scope.
  s3: s3Service,
  sts: stsService,
  sns: snsService,
} satisfies Record<string, ServiceFactory>;

/** The running services of one sandbox, each with its own typed extras (`rotations()`, `snapshot()`, ...). */
export type RunningServices = {
  [Name in keyof typeof sandboxServices]: Awaited<ReturnType<(typeof sandboxServices)[Name]>>;
};

/** Creates every service of the registry for one sandbox. */
export async function startServices(context: ServiceContext): Promise<RunningServices> {
  const running: Partial<Record<string, unknown>> = {};
  for (const [name, create] of Object.entries(sandboxServices)) running[name] = await create(context);
  return running as RunningServices;
}
