package explain_test

import (
	"strings"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/explain"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func dep(status string) *workflow.DeploymentState {
	return &workflow.DeploymentState{Status: status, Done: true, ServiceDeploymentARN: "arn:sdep", Stage: "CLEAN_UP"}
}

func TestOutcomeAndReason(t *testing.T) {
	fail := result.CheckEvidence{Stage: "POST_TEST_TRAFFIC_SHIFT", Check: "health", Method: "GET", Path: "/health", Address: "10.0.1.23:8080", Status: 500, BodyExcerpt: "FAIL", LatencyMs: 12}
	tests := []struct {
		name    string
		job     workflow.Job
		ev      explain.Evidence
		want    result.Outcome
		kind    result.ReasonKind
		summary string
	}{
		{"PENDING", workflow.Job{Deployment: dep("PENDING")}, explain.Evidence{}, result.Failed, result.KindUnknown, "pending"},
		{"IN_PROGRESS", workflow.Job{Deployment: dep("IN_PROGRESS")}, explain.Evidence{}, result.Failed, result.KindUnknown, ""},
		{"SUCCESSFUL", workflow.Job{Deployment: dep("SUCCESSFUL")}, explain.Evidence{}, result.Succeeded, "", ""},
		{"STOPPED", workflow.Job{Deployment: dep("STOPPED")}, explain.Evidence{}, result.Failed, result.KindManual, "stopped outside greenlight"},
		{"STOP_REQUESTED", workflow.Job{Deployment: dep("STOP_REQUESTED")}, explain.Evidence{}, result.Failed, result.KindUnknown, ""},
		{"ROLLBACK_REQUESTED", workflow.Job{Deployment: dep("ROLLBACK_REQUESTED")}, explain.Evidence{}, result.Failed, result.KindUnknown, ""},
		{"ROLLBACK_IN_PROGRESS", workflow.Job{Deployment: dep("ROLLBACK_IN_PROGRESS")}, explain.Evidence{}, result.Failed, result.KindUnknown, ""},
		{"ROLLBACK_SUCCESSFUL smoke", workflow.Job{Deployment: dep("ROLLBACK_SUCCESSFUL")}, explain.Evidence{SmokeChecks: []result.CheckEvidence{fail}}, result.RolledBack, result.KindSmokeTestFailed, "returned 500 'FAIL' in 12 ms"},
		{"ROLLBACK_FAILED", workflow.Job{Deployment: dep("ROLLBACK_FAILED")}, explain.Evidence{}, result.Failed, result.KindUnknown, "rollback failed"},
		{"skip", workflow.Job{Skip: &result.Reason{Kind: result.KindNoRoute, Summary: "no route"}}, explain.Evidence{}, result.Skipped, result.KindNoRoute, "no route"},
		{"already running", workflow.Job{Deployment: &workflow.DeploymentState{Skipped: &result.Reason{Kind: result.KindAlreadyRunning, Summary: "runs"}}}, explain.Evidence{}, result.Skipped, result.KindAlreadyRunning, ""},
		{"superseded", workflow.Job{Lock: &workflow.LockState{Superseded: true, SupersededBy: result.Image{Repository: "web", Tag: "v2"}}}, explain.Evidence{}, result.Superseded, result.KindSuperseded, "web:v2"},
		{"blocked", workflow.Job{Preflight: &workflow.PreflightState{Blocked: true, Firing: []result.AlarmEvidence{{Name: "web-5xx", State: "ALARM"}}}}, explain.Evidence{}, result.Blocked, result.KindAlarmAlreadyFiring, "web-5xx"},
		{"error", workflow.Job{Error: &workflow.CaughtError{Error: "greenlight.Internal", Cause: `{"errorMessage":"boom","errorType":"greenlight.Internal"}`}, FailedStep: "Check", Deployment: dep("IN_PROGRESS")}, explain.Evidence{}, result.Failed, result.KindError, "failed at Check: boom"},
		{"config", workflow.Job{Error: &workflow.CaughtError{Error: "greenlight.Config", Cause: `{"errorMessage":"no container","errorType":"greenlight.Config"}`}, FailedStep: "Start"}, explain.Evidence{}, result.Failed, result.KindConfig, "no container"},
		{"deadline", workflow.Job{Deployment: &workflow.DeploymentState{Status: "IN_PROGRESS", DeadlineExceeded: true, Done: true}}, explain.Evidence{}, result.Failed, result.KindDeadline, "deadline"},
		{"hook failed", workflow.Job{Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Hooks: []result.HookExecution{{TargetARN: "arn:aws:lambda:x:1:function:smoke", Status: "FAILED"}}}}, explain.Evidence{}, result.RolledBack, result.KindHookFailed, "smoke returned FAILED"},
		{"alarm by ECS", workflow.Job{Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Stage: "BAKE_TIME", TriggeredAlarms: []string{"web-5xx"}}}, explain.Evidence{}, result.RolledBack, result.KindAlarm, "web-5xx went to ALARM during BAKE_TIME"},
		{"circuit breaker", workflow.Job{Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", CircuitBreaker: &result.CircuitBreaker{Status: "TRIGGERED", FailureCount: 3, Threshold: 3}}}, explain.Evidence{}, result.RolledBack, result.KindCircuitBreaker, "3 failed tasks"},
		{"stopped tasks", workflow.Job{Deployment: dep("ROLLBACK_SUCCESSFUL")}, explain.Evidence{StoppedTasks: []result.StoppedTask{{TaskARN: "t/1", StoppedReason: "Essential container in task exited", Containers: []result.ContainerExit{{Name: "app", ExitCode: ptr(1)}}}}}, result.RolledBack, result.KindTasksFailedToStart, "container app exited 1"},
	}
	for _, tt := range tests {
		got := explain.Outcome(tt.job)
		if got != tt.want {
			t.Errorf("%s: Outcome = %s; want %s", tt.name, got, tt.want)
		}
		r := explain.Reason(tt.job, tt.ev)
		if tt.kind == "" {
			if r != nil {
				t.Errorf("%s: Reason = %+v; want none", tt.name, r)
			}
			continue
		}
		if r == nil || r.Kind != tt.kind || !strings.Contains(strings.ToLower(r.Summary), strings.ToLower(tt.summary)) {
			t.Errorf("%s: Reason = %+v; want kind %s with %q", tt.name, r, tt.kind, tt.summary)
		}
	}
}

func ptr(i int32) *int32 { return &i }

// TestGreenlightRequestedRollbackIsSaid: when greenlight, not ECS, asked for the rollback,
// the reason says so (ECS was not going to act on that alarm).
func TestGreenlightRequestedRollbackIsSaid(t *testing.T) {
	j := workflow.Job{
		Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Done: true, Stage: "BAKE_TIME"},
		Watch:      &workflow.WatchState{RollbackRequested: true, Fired: []result.AlarmEvidence{{Name: "web-5xx-rate", State: "ALARM"}}},
	}
	r := explain.Reason(j, explain.Evidence{})
	if r.Kind != result.KindAlarm || !strings.Contains(strings.Join(r.Details, "\n"), "greenlight asked ECS to roll back") {
		t.Fatalf("Reason = %+v; want ALARM with greenlight's rollback request in the details", r)
	}
	j.Watch.RollbackRequested = false
	if r := explain.Reason(j, explain.Evidence{}); strings.Contains(strings.Join(r.Details, "\n"), "greenlight asked") {
		t.Fatalf("Reason claims greenlight asked for a rollback it did not: %+v", r)
	}
}

// TestECSTriggeredAlarmAfterRollbackMovedOn: ECS reports the triggered alarm only once its
// rollback is in CLEAN_UP; the reason must not say the alarm fired during CLEAN_UP.
func TestECSTriggeredAlarmAfterRollbackMovedOn(t *testing.T) {
	j := workflow.Job{Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Done: true, Stage: "CLEAN_UP", TriggeredAlarms: []string{"web-5xx-rate"}}}
	r := explain.Reason(j, explain.Evidence{})
	if r.Kind != result.KindAlarm || strings.Contains(r.Summary, "CLEAN_UP") || !strings.Contains(r.Summary, "web-5xx-rate went to ALARM") {
		t.Fatalf("Reason = %+v", r)
	}
	j.Deployment.Status, j.Deployment.Stage = "IN_PROGRESS", "BAKE_TIME"
	if r := explain.Reason(j, explain.Evidence{}); !strings.Contains(r.Summary, "during BAKE_TIME") {
		t.Fatalf("while ECS still deploys, the stage is known: %+v", r)
	}
}
