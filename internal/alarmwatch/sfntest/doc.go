// Package sfntest holds the alarm watch's state-machine execution tests: the deploy state
// machine from template.yaml runs in moto's Step Functions engine, the real Lambda bootstraps
// (resolve, lock, start, check, watch, finalize) run under aws-lambda-rie, CloudWatch alarms
// and metrics live in moto, and deployfake answers the ECS service-deployment APIs moto lacks.
// internal/stacktest builds that stack, as it does for statemachine's own tests.
//
// It has no code of its own; the tests are in this directory's _test.go files, apart from
// internal/alarmwatch so that the package's unit tests stay fast.
package sfntest
