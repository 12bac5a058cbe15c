// The dashboard and alarms of the packaged template refer only to metrics the functions really emit
// (lib/metrics.ts's catalogue, with its exact dimension sets) or that a metric filter of the template
// derives, and each alarm says where its runbook is.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  LOG_METRICS_NAMESPACE_PREFIX,
  logMetricCatalogue,
  METRICS_NAMESPACE,
  metricCatalogue,
} from "../../lib/metrics.ts";
import { packagedTemplate, type Template } from "../helpers/packaged-template.ts";
import { effectiveTemplate } from "../helpers/template-conditions.ts";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, whose shape each assertion states.
type Props = Record<string, any>;

let template: Template;
let withBaseUrl: Template;

beforeAll(async () => {
  template = effectiveTemplate(await packagedTemplate("defaults"));
  withBaseUrl = effectiveTemplate(await packagedTemplate("everything"));
}, 300_000);

const alarms = (t: Template) =>
  Object.entries(t.Resources)
    .filter(([, resource]) => resource.Type === "AWS::CloudWatch::Alarm")
    .map(([id, resource]) => [id, resource.Properties as Props] as const);

const filters = (t: Template) =>
  Object.values(t.Resources)
    .filter((resource) => resource.Type === "AWS::Logs::MetricFilter")
    .map((resource) => resource.Properties as Props);

const FUNCTIONS = ["rotate", "notify", "audit-scan"].map((name) => `vigil-dev-${name}`);

/** Why a (namespace, name, dimension names, service) reference is not a metric Vigil emits; undefined if it is. */
function problem(
  namespace: string,
  name: string,
  dimensions: string[],
  service?: string,
): string | undefined {
  if (namespace === METRICS_NAMESPACE) {
    const entry = metricCatalogue[name as keyof typeof metricCatalogue];
    if (!entry) return `${name} is not in lib/metrics.ts's catalogue`;
    const expected = ["service", ...entry.dimensions].sort();
    if (JSON.stringify([...dimensions].sort()) !== JSON.stringify(expected))
      return `${name} is emitted with dimensions ${expected.join(",")}, not ${dimensions.join(",")}`;
    if (!service || !FUNCTIONS.includes(service)) return `${name}: service ${service} is no Vigil function`;
    return undefined;
  }
  if (namespace.startsWith("Vigil")) {
    if (namespace !== `${LOG_METRICS_NAMESPACE_PREFIX}dev`) return `${namespace} is not a Vigil namespace`;
    if (!(name in logMetricCatalogue)) return `${name} is not in lib/metrics.ts's log metric catalogue`;
    const derived = filters(template).some((filter) =>
      filter.MetricTransformations.some(
        (transformation: Props) =>
          transformation.MetricNamespace === namespace && transformation.MetricName === name,
      ),
    );
    return derived ? undefined : `no metric filter derives ${namespace} ${name}`;
  }
  return undefined;
}

/** The metrics a dashboard widget's `metrics` list names: arrays, and SEARCH expressions. */
function widgetMetrics(
  metrics: unknown[],
): { namespace: string; name: string; dims: string[]; service?: string }[] {
  return metrics.flatMap((entry) => {
    if (Array.isArray(entry)) {
      const [namespace, name, ...rest] = entry.filter((item) => typeof item === "string") as string[];
      const pairs = Object.fromEntries(rest.flatMap((_, i) => (i % 2 === 0 ? [[rest[i], rest[i + 1]]] : [])));
      return [
        { namespace: namespace ?? "", name: name ?? "", dims: Object.keys(pairs), service: pairs.service },
      ];
    }
    const expression = String((entry as Props).expression ?? "");
    return [...expression.matchAll(/SEARCH\('\{([^}]*)\} MetricName="([^"]+)" service="([^"]+)"/g)].map(
      ([, schema = "", name = "", service]) => {
        const [namespace = "", ...dims] = schema.split(",");
        return { namespace, name, dims, service };
      },
    );
  });
}

/** GitHub's anchors for the headings of a Markdown file. */
function anchors(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading = ""]) =>
    heading
      .toLowerCase()
      .replace(/[^a-z0-9 _-]/g, "")
      .replace(/ /g, "-"),
  );
}

/** Whether a CloudWatch Logs filter pattern of OR-ed terms (`?"a b" ?c`) matches a log line. */
function matchesTerms(pattern: string, line: string): boolean {
  const terms = [...pattern.matchAll(/\?(?:"([^"]+)"|(\S+))/g)].map(
    ([, quoted, bare]) => quoted ?? bare ?? "",
  );
  return terms.some((term) => line.includes(term));
}

describe("alarms", () => {
  it("refer only to metrics the functions emit or a metric filter derives, with their exact dimensions", () => {
    // Arrange
    const found: string[] = [];

    // Act
    for (const [id, alarm] of alarms(template)) {
      const dims = (alarm.Dimensions ?? []) as { Name: string; Value: string }[];
      const service = dims.find((dim) => dim.Name === "service")?.Value;
      const issue = problem(
        alarm.Namespace,
        alarm.MetricName,
        dims.map((dim) => dim.Name),
        service,
      );
      if (issue) found.push(`${id}: ${issue}`);
    }

    // Assert
    expect(found).toEqual([]);
  });

  it("cover rotation failures, crashes, scanner lag, throttling, the DLQ and failed pages", () => {
    // Arrange
    const watched = alarms(template).map(([, alarm]) => `${alarm.Namespace} ${alarm.MetricName}`);

    // Act
    const required = [
      "Vigil RotationFailures",
      "Vigil/Logs/dev RotateCrashes",
      "Vigil ScannerLagSeconds",
      "Vigil LookupThrottles",
      "AWS/SQS ApproximateNumberOfMessagesVisible",
      "Vigil PagesFailed",
    ];

    // Assert
    expect(watched).toEqual(expect.arrayContaining(required));
  });

  it("treat a lookup sweep that stopped reporting as lag", () => {
    // Arrange
    const [, lag] = alarms(template).find(([, alarm]) => alarm.MetricName === "ScannerLagSeconds") ?? [];

    // Act
    const source = lag?.Dimensions.find((dim: Props) => dim.Name === "Source")?.Value;

    // Assert
    expect(source).toBe("lookup");
    expect(lag?.TreatMissingData).toBe("breaching");
  });

  it("go to the alarms topic and link a runbook section that docs/deploy.md has", () => {
    // Arrange
    const headings = anchors(readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8"));

    // Act
    const links = alarms(withBaseUrl).map(([id, alarm]) => {
      expect(alarm.AlarmActions, id).toEqual([{ Ref: "AlarmsTopic" }]);
      return [id, /Runbook (\S+)$/.exec(alarm.AlarmDescription)?.[1]] as const;
    });

    // Assert
    for (const [id, link] of links) {
      expect(link, id).toMatch(/^https:\/\/git\.example\.com\/vigil\/blob\/main\/docs\/deploy\.md#/);
      expect(headings, id).toContain(link?.split("#")[1]);
    }
  });
});

describe("rotation crash metric filter", () => {
  const pattern = () =>
    filters(template).find((filter) => filter.MetricTransformations[0].MetricName === "RotateCrashes")
      ?.FilterPattern as string;

  it("counts timeouts, crashes and a failed start", () => {
    // Arrange
    const lines = [
      "2026-12-02T03:00:00.000Z 5f0c Task timed out after 120.00 seconds",
      "INIT_REPORT Init Duration: 212.1 ms Phase: init Status: error Error Type: Runtime.Unknown",
      '2026-12-02T03:00:00.000Z undefined ERROR Uncaught Exception {"errorType":"ConfigError"}',
      "RequestId: 5f0c Error: Runtime exited with error: signal: killed Runtime.ExitError",
    ];

    // Act
    const counted = lines.filter((line) => matchesTerms(pattern(), line));

    // Assert
    expect(counted).toEqual(lines);
  });

  it("does not count the IBKR rotation-due stop the handler reports itself", () => {
    // Arrange
    const lines = [
      '2026-12-02T03:00:00.000Z 5f0c ERROR Invoke Error {"errorType":"IbkrRotationDueError","errorMessage":"change the password in the IBKR portal"}',
      '{"level":"WARN","message":"rotation step stopped","rotation":{"step":"createSecret","strategy":"ibkr"}}',
      "REPORT RequestId: 5f0c Duration: 812.22 ms Billed Duration: 813 ms Memory Size: 256 MB Max Memory Used: 98 MB",
    ];

    // Act
    const counted = lines.filter((line) => matchesTerms(pattern(), line));

    // Assert
    expect(counted).toEqual([]);
  });
});

describe("dashboard", () => {
  const body = () => {
    const dashboard = Object.values(template.Resources).find((r) => r.Type === "AWS::CloudWatch::Dashboard");
    const properties = (dashboard?.Properties ?? {}) as Props;
    return JSON.parse(properties.DashboardBody["Fn::Sub"]) as { widgets: Props[] };
  };

  it("shows only metrics the functions emit or a metric filter derives, with their exact dimensions", () => {
    // Arrange
    const referenced = body().widgets.flatMap((widget) => widgetMetrics(widget.properties.metrics ?? []));

    // Act
    const found = referenced
      .map((metric) => problem(metric.namespace, metric.name, metric.dims, metric.service))
      .filter(Boolean);

    // Assert
    expect(referenced.length).toBeGreaterThan(10);
    expect(found).toEqual([]);
  });

  it("shows every metric in the catalogue", () => {
    // Arrange
    const shown = new Set(
      body()
        .widgets.flatMap((widget) => widgetMetrics(widget.properties.metrics ?? []))
        .map((metric) => metric.name),
    );

    // Act
    const missing = Object.keys(metricCatalogue).filter((name) => !shown.has(name));

    // Assert
    expect(missing).toEqual([]);
  });

  it("puts the three questions in order and lists alarms the template defines", () => {
    // Arrange
    const widgets = body().widgets;
    const defined = alarms(template).map(([, alarm]) => alarm.AlarmName as string);

    // Act
    const questions = widgets.filter((w) => w.type === "text").map((w) => w.properties.markdown as string);
    const listed = widgets
      .filter((w) => w.type === "alarm")
      .flatMap((w) => w.properties.alarms as string[])
      .map((arn) => arn.split(":alarm:")[1]);

    // Assert
    expect(questions.filter((text) => text.startsWith("## "))).toEqual([
      "## Is rotation healthy?",
      "## Is the scanner keeping up?",
      "## Are pages going out?",
    ]);
    expect(defined).toEqual(expect.arrayContaining(listed));
  });
});
