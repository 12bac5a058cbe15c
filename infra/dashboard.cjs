// The CloudWatch dashboard, laid out for a person woken at 3 a.m.: one row per question (is rotation
// healthy, is the scanner keeping up, are pages going out), the answer on the left, detail to the right.
// Metric names and dimensions are those of lib/metrics.ts (a template test checks every one).
const NAMESPACE = "Vigil";
const STRATEGIES = ["postgres-single", "postgres-alternating", "mysql-single", "mysql-alternating", "ibkr"];
const STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"];
const SOURCES = ["lookup", "s3", "eventbridge"];
const SEVERITIES = ["critical", "high", "medium", "low", "info"];
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JavaScript.
const REGION = "${AWS::Region}";

/** Builds the DashboardBody (a Fn::Sub template: ${AWS::Region}, ${AWS::AccountId}, ${AWS::Partition}). */
function dashboardBody(stage) {
  const fn = (name) => `vigil-${stage}-${name}`;
  const alarm = (name) =>
    `arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:vigil-${stage}-${name}`;
  const metric = (name, service, dims = {}, options = {}) => [
    NAMESPACE,
    name,
    "service",
    fn(service),
    ...Object.entries(dims).flat(),
    options,
  ];
  // Sums one dimension value across the others (e.g. every strategy's failed steps), as dashboards allow.
  const sumOf = (name, service, dims, where, label, id) => ({
    expression: `SUM(SEARCH('{${NAMESPACE},${["service", ...dims].join(",")}} MetricName="${name}" service="${fn(service)}" ${Object.entries(
      where,
    )
      .map(([key, value]) => `${key}="${value}"`)
      .join(" ")}', 'Sum', 300))`,
    label,
    id,
  });
  const text = (y, markdown) => ({ type: "text", x: 0, y, width: 24, height: 1, properties: { markdown } });
  const graph = (x, y, width, title, metrics, extra = {}) => ({
    type: "metric",
    x,
    y,
    width,
    height: 6,
    properties: {
      title,
      region: REGION,
      view: "timeSeries",
      stacked: false,
      period: 300,
      metrics,
      ...extra,
    },
  });
  const single = (x, y, width, title, metrics) => ({
    type: "metric",
    x,
    y,
    width,
    height: 6,
    properties: { title, region: REGION, view: "singleValue", setPeriodToTimeRange: true, metrics },
  });

  return {
    widgets: [
      text(0, `# Vigil ${stage} · runbooks: docs/deploy.md#alarms-and-what-to-do`),
      text(1, "## Is rotation healthy?"),
      {
        type: "alarm",
        x: 0,
        y: 2,
        width: 6,
        height: 6,
        properties: {
          title: "Alarms",
          alarms: [
            "rotation-failed",
            "rotate-crashed",
            "scanner-lag",
            "lookup-throttled",
            "pages-failed",
            "findings-dlq-not-empty",
            "findings-backlog",
          ].map(alarm),
        },
      },
      single(6, 2, 4, "Rotation failures (need someone)", [
        metric("RotationFailures", "rotate", {}, { stat: "Sum" }),
      ]),
      graph(10, 2, 7, "Rotation steps by outcome", [
        sumOf("RotationSteps", "rotate", ["Outcome", "Strategy"], { Outcome: "failed" }, "failed", "failed"),
        sumOf(
          "RotationSteps",
          "rotate",
          ["Outcome", "Strategy"],
          { Outcome: "operator-stop" },
          "waiting for an operator (IBKR)",
          "stopped",
        ),
        sumOf("RotationSteps", "rotate", ["Outcome", "Strategy"], { Outcome: "done" }, "done", "done"),
      ]),
      graph(
        17,
        2,
        7,
        "Rotation step duration (p90, ms)",
        STEPS.map((step) =>
          metric("RotationStepDuration", "rotate", { Step: step }, { stat: "p90", label: step }),
        ),
      ),
      graph(
        0,
        8,
        24,
        "Failed rotation steps by strategy",
        STRATEGIES.map((strategy) =>
          metric(
            "RotationSteps",
            "rotate",
            { Strategy: strategy, Outcome: "failed" },
            { stat: "Sum", label: strategy },
          ),
        ),
      ),
      text(14, "## Is the scanner keeping up?"),
      graph(
        0,
        15,
        8,
        "Scanner lag (s): now minus the newest processed event",
        SOURCES.map((source) =>
          metric("ScannerLagSeconds", "audit-scan", { Source: source }, { stat: "Maximum", label: source }),
        ),
      ),
      graph(
        8,
        15,
        8,
        "Events processed / records skipped",
        SOURCES.flatMap((source) => [
          metric(
            "EventsProcessed",
            "audit-scan",
            { Source: source },
            { stat: "Sum", label: `${source} processed` },
          ),
          metric(
            "RecordsSkipped",
            "audit-scan",
            { Source: source },
            { stat: "Sum", label: `${source} skipped` },
          ),
        ]),
      ),
      graph(16, 15, 8, "LookupEvents throttles absorbed", [
        metric("LookupThrottles", "audit-scan", {}, { stat: "Sum" }),
      ]),
      graph(
        0,
        21,
        24,
        "Findings by severity",
        SEVERITIES.map((severity, index) =>
          sumOf(
            "Findings",
            "audit-scan",
            ["Rule", "Severity"],
            { Severity: severity },
            severity,
            `s${index}`,
          ),
        ),
      ),
      text(27, "## Are pages going out?"),
      graph(0, 28, 8, "PagerDuty", [
        metric("PagesSent", "notify", {}, { stat: "Sum", label: "pages sent" }),
        metric("PagesFailed", "notify", {}, { stat: "Sum", label: "pages failed" }),
        metric("PagesRetried", "notify", {}, { stat: "Sum", label: "calls retried" }),
        metric("Resolves", "notify", {}, { stat: "Sum", label: "resolves" }),
      ]),
      graph(8, 28, 8, "Batches: size and findings per page", [
        metric("BatchSize", "notify", {}, { stat: "Maximum", label: "largest batch" }),
        metric("GroupingRatio", "notify", {}, { stat: "Maximum", label: "findings per group (max)" }),
      ]),
      graph(16, 28, 8, "Findings queue", [
        [
          "AWS/SQS",
          "ApproximateAgeOfOldestMessage",
          "QueueName",
          `vigil-${stage}-findings`,
          { stat: "Maximum", label: "oldest finding (s)" },
        ],
        [
          "AWS/SQS",
          "ApproximateNumberOfMessagesVisible",
          "QueueName",
          `vigil-${stage}-findings-dlq`,
          { stat: "Maximum", label: "in the DLQ" },
        ],
      ]),
      graph(
        0,
        34,
        24,
        "Function errors (crashes, timeouts, and the IBKR rotation-due stops)",
        ["rotate", "notify", "audit-scan"].map((name) => [
          "AWS/Lambda",
          "Errors",
          "FunctionName",
          fn(name),
          { stat: "Sum", label: name },
        ]),
      ),
    ],
  };
}

module.exports = { dashboardBody };
