// Package stacktest runs greenlight's deploy state machine locally for tests: the state
// machine and the ECR push rule rendered from template.yaml (internal/samtemplate) in moto's
// Step Functions engine and EventBridge, the real Lambda bootstraps under aws-lambda-rie,
// created as Lambda functions in moto, the ledger table, the routes parameter, the result
// topic read back through an SQS subscription, BLUE_GREEN ECS services in moto, and
// deployfake for the ECS service-deployment APIs moto lacks.
//
// New builds that stack from Options (which functions run, the routes document, the ECS
// services and their deployfake scripts, extra environment); the Stack's methods start
// executions (Push through the rule, Start directly), wait for them, read their results and
// their history. What a scenario needs beyond that (CloudWatch alarms, fired alarms, the
// fake's timing) it does itself with the Stack's clients.
//
// The stack lives in moto's default account, where Step Functions task states act, on the
// shared moto_server of internal/awstest: call awstest.Main from TestMain. One stack per
// test binary; with -short, New skips.
package stacktest
