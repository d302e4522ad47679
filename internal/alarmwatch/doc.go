// Package alarmwatch guards a deployment with the route's CloudWatch alarms, where ECS's own
// deployment alarms leave gaps (reference ecs-bluegreen.md §5.3):
//
//   - preflight, before UpdateService: an alarm already in ALARM would make ECS ignore its
//     deployment alarms for the whole deployment, so the route either blocks the deployment
//     (BLOCKED) or deploys with a warning;
//   - during, after every check poll: a route alarm going to ALARM (or ECS reporting a
//     triggered alarm) while the deployment is neither finished nor already rolling back
//     makes greenlight call StopServiceDeployment(ROLLBACK), once per service deployment;
//   - post, after SUCCESSFUL: ECS no longer rolls back after CLEAN_UP, so greenlight keeps
//     watching for the route's post-deploy window and turns an alarm into a REGRESSED
//     follow-up result, optionally redeploying the last good revision.
//
// Every alarm involved becomes a result.AlarmEvidence: its state, reason, threshold and
// the datapoints CloudWatch returns for its metric (metric math included) over the
// deployment window, so the result can say why in words and numbers.
//
// The decisions are pure functions (DecidePreflight, DecideDuring, DecidePost,
// DecideRegressionRollback); Watcher does the I/O around them behind small interfaces
// that copy the AWS SDK's signatures. The package does not import aws-lambda-go: the
// watch Lambda (functions/watch) wires it to the runtime.
package alarmwatch
