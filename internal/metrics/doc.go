// Package metrics turns a finished deployment's result.Result into CloudWatch embedded metric
// format (EMF) log lines: structured JSON that CloudWatch Logs turns into metrics in the
// "Greenlight" namespace when a Lambda function prints it to stdout. No PutMetricData call,
// no client, no permission: the finalize function prints the lines and CloudWatch does the
// rest.
//
// Metrics (docs/metrics.md has the full table and the dashboard that shows them):
//
//	Deployments      Count    [Service] [Outcome] [Service, Outcome]   every result
//	Rollbacks        Count    [ReasonKind] [Service]                   ROLLED_BACK
//	Regressions      Count    [Service]                                REGRESSED
//	DurationSeconds  Seconds  [Service] [Service, Outcome]             results with an ECS deployment
//	LeadTimeSeconds  Seconds  [Service]                                SUCCEEDED from a push
//	StageSeconds     Seconds  [Stage] [Service, Stage]                 one line per finished stage
//
// Service is "cluster/service". Records is a pure function; Write prints one JSON object per
// line, each within the EMF specification's limits (checked by Validate).
package metrics
