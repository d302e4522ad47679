// Package workflow is the only package that knows the Step Functions contract: the state
// each Lambda receives and returns (a Job per target deployment), the execution input, and
// the stable error names that the state machine's Retry and Catch match.
//
// Every deploy-path Lambda is a func(context.Context, Job) (Job, error): it reads the job,
// fills in its own part and returns the whole job, so the state machine only passes it on.
package workflow
