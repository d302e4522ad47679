// Package smoketest is greenlight's ECS lifecycle hook: ECS calls it at POST_SCALE_UP (green
// tasks up, no listener routes to them) and at POST_TEST_TRAFFIC_SHIFT (the test listener
// sends everything to green), and it answers SUCCEEDED, FAILED (ECS rolls back) or
// IN_PROGRESS (ECS calls again after callBackDelay).
//
// It owns, in order of a call: reading the hook event and hookDetails (event.go), deciding
// which checks apply from the service's route and hookDetails (plan.go), finding green —
// the tasks of the target service revision and their private IPs, or the test listener's
// address (discover.go, listener.go) — probing every target with every check in parallel
// with a bound (probe.go, evaluate.go), the pure verdict (Decide, decide.go), and storing the
// evidence in the ledger under the service-deployment ARN for finalize (handler.go).
//
// The hook contract is ../shared/reference/ecs-bluegreen.md §2. Two rules shape everything
// here: the handler never returns an error (an error and FAILED both roll back, but only
// FAILED says why), and it only ever probes addresses it found itself — the private IPs of
// the deploying service's own tasks, or a test listener that is the operator's configuration
// or the service's own load balancer — never a URL taken from the event.
package smoketest
