// Package ecsemu is the ECS native blue/green emulator: the one part of AWS nothing on a
// developer machine emulates (moto has no service-deployment APIs, drops
// deploymentConfiguration and never runs tasks). It is the core of `greenlight rehearse`
// and greenlight's end-to-end test bed.
//
// An Emulator is an HTTP server speaking the ECS JSON 1.1 protocol. Point only ECS at it
// (AWS_ENDPOINT_URL_ECS); it owns CreateService, UpdateService, DescribeServices, the
// service-deployment operations, DescribeServiceRevisions, ListTasks, DescribeTasks and
// StopTask, and forwards every other operation to moto unchanged. Behind the endpoint:
//
//   - the control plane: service revisions, service deployments with ECS's statuses, and
//     the blue/green lifecycle stages in ECS's order (reference/ecs-bluegreen.md §2.5);
//   - lifecycle hooks invoked with ECS's payload, IN_PROGRESS re-invocation, and the
//     rollback re-invocation of the traffic-shift hooks (§2.1-2.4);
//   - tasks as real local processes, each on its own loopback address (127.0.0.2, …);
//   - a weighted reverse proxy per listener rule playing the ALB (package alb), with the
//     target groups' health checks and thresholds;
//   - the ALB's CloudWatch metrics published to moto and the service's alarms evaluated
//     from them (package alarmeval), with ECS's alarm rollback semantics (§5.3, §6);
//   - the deployment circuit breaker, bake time, rollback, and supersession by a newer
//     UpdateService (§5.2-5.4).
//
// Time is compressed by Options.TimeScale. The Go API (Report, WaitDeployment, Traffic,
// Listeners, Tasks, Options.OnEvent) gives the rehearsal what the ECS API does not: the
// stage timeline with wall-clock and emulated durations, every hook payload, and the
// production traffic served and failed per phase. docs/emulator.md lists every behaviour
// with the reference line it follows, and what is not emulated.
package ecsemu
