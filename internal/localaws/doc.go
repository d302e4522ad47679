// Package localaws runs a local AWS on loopback for tests and the rehearsal: moto_server with
// greenlight's small, version-pinned patches (Step Functions executions, EventBridge → Step
// Functions, Lambda Invoke → aws-lambda-rie), and the real Lambda bootstraps under
// aws-lambda-rie, one emulator per function.
//
// Every process it starts listens on 127.0.0.1 on a free port and is stopped by its PID.
package localaws
