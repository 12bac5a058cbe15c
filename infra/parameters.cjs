// Values serverless.yml derives from its parameters when packaging (osls resolves `${file(...cjs)}` by
// calling this function): lists of ARNs that CloudFormation cannot build from a comma list by itself,
// the rotate function's VPC switch, and the dashboard. A malformed parameter fails `npm run package`
// with its name and what was expected.
const { dashboardBody } = require("./dashboard.cjs");

// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JavaScript.
const PARTITION_PREFIX = "arn:${AWS::Partition}";

/** Splits a comma list parameter into trimmed, non-empty items, each checked against `pattern`. */
function list(name, value, pattern, expected) {
  const items = String(value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!pattern.test(item)) throw new Error(`param ${name}: expected ${expected}, got "${item}"`);
  }
  return items;
}

module.exports = async ({ resolveVariable }) => {
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? "");
  const stage = await resolveVariable("sls:stage");

  const ibkrSecrets = list(
    "ibkrSecrets",
    await param("ibkrSecrets"),
    /^[A-Za-z0-9/_+=.@-]{1,480}$/,
    "secret names (letters, digits and /_+=.@-)",
  );
  const subnetIds = list(
    "rotateSubnetIds",
    await param("rotateSubnetIds"),
    /^subnet-[0-9a-f]+$/,
    "subnet-...",
  );
  const securityGroupIds = list(
    "rotateSecurityGroupIds",
    await param("rotateSecurityGroupIds"),
    /^sg-[0-9a-f]+$/,
    "sg-...",
  );
  if ((subnetIds.length === 0) !== (securityGroupIds.length === 0)) {
    throw new Error(
      "params rotateSubnetIds and rotateSecurityGroupIds: set both to attach the rotate function to a VPC, or neither",
    );
  }
  const findingsSenders = list(
    "findingsSenders",
    await param("findingsSenders"),
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/,
    "IAM role ARNs",
  );
  const trailBucket = await param("trailBucket");
  if (trailBucket && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(trailBucket)) {
    throw new Error(`param trailBucket: expected an S3 bucket name, got "${trailBucket}"`);
  }
  const lag = await param("scannerLagAlarmSeconds");
  if (!/^[1-9]\d*$/.test(lag))
    throw new Error(`param scannerLagAlarmSeconds: expected seconds, got "${lag}"`);

  const inVpc = subnetIds.length > 0;
  const ec2 = (kind, id) => ({
    "Fn::Sub": `${PARTITION_PREFIX}:ec2:\${AWS::Region}:\${AWS::AccountId}:${kind}/${id}`,
  });
  return {
    // "true"/"false" strings: CloudFormation conditions compare them (Conditions in infra/).
    rotateInVpc: String(inVpc),
    hasIbkrSecrets: String(ibkrSecrets.length > 0),
    hasTrailBucket: String(trailBucket !== ""),
    rotateVpc: inVpc ? { subnetIds, securityGroupIds } : undefined,
    // Placeholders when not in a VPC: the statement using them is then left out (RotateInVpc).
    rotateEniCreateArns: [
      ec2("network-interface", "*"),
      ...(inVpc ? subnetIds : ["none"]).map((id) => ec2("subnet", id)),
      ...(inVpc ? securityGroupIds : ["none"]).map((id) => ec2("security-group", id)),
    ],
    // Only each managed target's own staging secret (never "*/vigil-staging"); a placeholder when none,
    // because the statement using it is then left out by the HasIbkrSecrets condition.
    ibkrStagingSecretArns: (ibkrSecrets.length > 0 ? ibkrSecrets : ["vigil-no-ibkr-secrets"]).map((name) => ({
      "Fn::Sub": `${PARTITION_PREFIX}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}/vigil-staging-??????`,
    })),
    findingsSenderArns: [
      { "Fn::GetAtt": ["RotateRole", "Arn"] },
      { "Fn::GetAtt": ["AuditScanRole", "Arn"] },
      ...findingsSenders,
    ],
    trailBucketArn: { "Fn::Sub": `${PARTITION_PREFIX}:s3:::${trailBucket || "vigil-no-trail-bucket"}` },
    trailObjectsArn: { "Fn::Sub": `${PARTITION_PREFIX}:s3:::${trailBucket || "vigil-no-trail-bucket"}/*` },
    dashboardBody: { "Fn::Sub": JSON.stringify(dashboardBody(stage)) },
  };
};
