// Package deploy is the deployment core of greenlight's state machine: resolve (an ECR push
// or a request → one job per routed ECS service, with digest dedupe), the per-service
// lock and queue, start (clone the service's current task definition with the image pinned
// by digest, UpdateService with the task definition only, find the ECS service deployment it
// started) and check (one DescribeServiceDeployments observation per poll: stage timeline,
// adaptive wait, route deadline).
//
// Each step is one bounded Lambda invocation; the waiting lives in the state machine. The
// decisions (task-definition cloning, route matching, adaptive wait, ECS status → outcome)
// are pure functions with table tests; AWS is reached through small interfaces that copy
// the SDK signatures.
package deploy
