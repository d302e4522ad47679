// Package localaws runs a local AWS on loopback for tests and the rehearsal: moto_server with
// greenlight's small, version-pinned patches (Step Functions executions, EventBridge → Step
// Functions, Lambda Invoke → aws-lambda-rie), and the real Lambda bootstraps under
// aws-lambda-rie, one emulator per function.
//
// StartFunction does what a test needs for one function: it builds the bootstrap as
// `sam build` does, runs it under aws-lambda-rie and, given a Moto, creates it as a Lambda
// function there and routes moto's invocations of it to the emulator. BuildBootstraps builds
// several bootstraps in one go build for callers that start many functions.
//
// Every process it starts listens on 127.0.0.1 on a free port and is stopped by its PID.
package localaws
