// Package rehearsal runs a whole greenlight blue/green deployment on one machine: the
// `greenlight rehearse` command and the end-to-end test bed.
//
// Run starts a local AWS (the patched moto_server from internal/localaws), builds every
// Lambda bootstrap exactly as for AWS and runs each under its own aws-lambda-rie, creates the
// automation stack's resources from template.yaml itself (through internal/samtemplate: the
// state machine with its substitutions rendered, the ECR push rule with the template's own
// pattern, topics, table, routes, function environments), creates the demo environment's
// load balancer, target groups, listener rules, 5xx-rate alarm, task definition and service
// from environment/template.yaml, and plays ECS with the blue/green emulator
// (internal/ecsemu): blue and green are real app processes behind a local weighted proxy.
// Then each Scenario pushes images (ECR PutImage plus the "ECR Image Action" event), while a
// traffic generator sends steady requests to the production listener, and the rehearsal
// follows the Step Functions executions, the service deployment's stages, the results
// published to the result topic and the chat messages a local webhook receiver got.
//
// Every process it starts (moto, each emulator, the app tasks, the receiver and the traffic
// generator) listens on 127.0.0.1 and is stopped when Run returns, whether it succeeded,
// failed or its context was cancelled.
//
//	rep, err := rehearsal.Run(ctx, rehearsal.Options{Scenarios: []string{"healthy"}, Live: os.Stdout})
//	// rep.Pass: every scenario met its expectation
package rehearsal
