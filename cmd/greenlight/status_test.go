package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// statusEnv: prod/web mid-deployment at BAKE_TIME, with history, smoke evidence, the lock
// held, a push queued and the route alarm in moto.
func statusEnv(t *testing.T) *env {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	e.wire()
	e.ecs = newFakeECS()
	e.ecs.deployments = []ecstypes.ServiceDeployment{
		blueGreen("dep1", ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp, t0.Add(-time.Hour), 100),
		blueGreen("dep2", ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStageBakeTime, t0.Add(-4*time.Minute), 100),
	}
	e.ecs.addRevision("dep2", digestOf(3))
	for i, s := range []float64{400, 420, 380} {
		e.putResult(record("exec-"+string(rune('a'+i))+"/prod/web", result.Succeeded, "v1.2."+string(rune('0'+i)), digestOf(byte(i+1)), t0.Add(-time.Duration(5-i)*time.Hour), s))
	}
	ctx := context.Background()
	lg := e.ledger()
	checks := []result.CheckEvidence{
		{Stage: "POST_SCALE_UP", Address: "10.0.1.23:8080", Check: "health", Method: "GET", Path: "/health", Passed: true, Status: 200, LatencyMs: 4, At: t0.Add(-3 * time.Minute)},
		{Stage: "POST_SCALE_UP", Address: "10.0.2.41:8080", Check: "health", Method: "GET", Path: "/health", Passed: true, Status: 200, LatencyMs: 6, At: t0.Add(-3 * time.Minute)},
	}
	if err := lg.PutSmokeEvidence(ctx, sdepPrefix+"dep2", "POST_SCALE_UP", checks); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lg.TryLock(ctx, "prod/web", ledger.Holder{JobID: "exec-d/prod/web", Execution: "arn:aws:states:us-east-1:1:execution:greenlight-deploy:exec-d",
		Image: result.Image{Repository: "web", Tag: "v1.2.3", Digest: digestOf(3)}, AcquiredAt: t0.Add(-5 * time.Minute), LeaseUntil: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.Enqueue(ctx, "prod/web", ledger.Waiter{JobID: "exec-e/prod/web", Execution: "arn:aws:states:us-east-1:1:execution:greenlight-deploy:exec-e",
		Image: result.Image{Repository: "web", Tag: "v1.2.4", Digest: digestOf(4)}, PushedAt: t0.Add(-time.Minute), QueuedAt: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestStatus(t *testing.T) {
	e := statusEnv(t)
	out, errs, code := e.run("status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errs)
	}
	golden(t, "status", out)

	out, _ = e.mustRun(0, "status", "--service", "prod/web", "-o", "json")
	v := checkSchema(t, "status", out)
	s := v["services"].([]any)[0].(map[string]any)
	d := s["deployment"].(map[string]any)
	if d["stage"] != "BAKE_TIME" || d["elapsedSeconds"] != float64(240) || d["expectedSeconds"] != float64(400) || d["active"] != true {
		t.Errorf("deployment view: %v", d)
	}
	if a := s["alarms"].([]any)[0].(map[string]any); a["name"] != "web-5xx-rate" || a["state"] != "OK" {
		t.Errorf("alarm view: %v", a)
	}
	if len(s["smoke"].([]any)) != 2 || s["lock"].(map[string]any)["expired"] != false {
		t.Errorf("smoke/lock: %v", s)
	}

	// colours only on a terminal, and never with NO_COLOR
	e.tty = true
	out, _ = e.mustRun(0, "status")
	if !strings.Contains(out, "\x1b[32mSUCCEEDED\x1b[0m") {
		t.Errorf("no colours on a terminal:\n%q", out)
	}
	e.vars["NO_COLOR"] = "1"
	out, _ = e.mustRun(0, "status")
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours with NO_COLOR")
	}
	e.tty = false
	delete(e.vars, "NO_COLOR")

	// moto alone cannot list service deployments: the rest is shown, exit 3
	e.ecs = nil
	out, _ = e.mustRun(3, "status")
	if !strings.Contains(out, "unreadable  ECS deployments:") || !strings.Contains(out, "lock") {
		t.Errorf("partial status:\n%s", out)
	}
}

func TestStatusWatch(t *testing.T) {
	e := statusEnv(t)
	e.ecs.deployments[1].LifecycleStage = ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift
	e.ecs.deployments[1].TargetServiceRevision.RequestedProductionTrafficWeight = w(0)
	steps := []func(d *ecstypes.ServiceDeployment){
		func(d *ecstypes.ServiceDeployment) {
			d.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift
			d.TargetServiceRevision.RequestedProductionTrafficWeight = w(100)
		},
		func(d *ecstypes.ServiceDeployment) {}, // nothing changed: no line
		func(d *ecstypes.ServiceDeployment) {
			d.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStageBakeTime
		},
		func(d *ecstypes.ServiceDeployment) {
			d.Status, d.LifecycleStage = ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp
			d.FinishedAt = tp(t0.Add(6 * time.Minute))
			_ = e.ledger().ReleaseLock(context.Background(), "prod/web", "exec-d/prod/web")
			_ = e.ledger().Dequeue(context.Background(), "prod/web", "exec-e/prod/web")
		},
	}
	step := 0
	e.onSleep = func() {
		if step < len(steps) {
			e.ecs.set(1, steps[step])
			step++
		}
	}
	out, _ := e.mustRun(0, "status", "--service", "prod/web", "--watch", "--interval", "30s")
	golden(t, "status-watch", out)
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("watch printed %d lines, want one per change (4)", n)
	}

	t.Run("rollback", func(t *testing.T) { watchRollback(t) })
	t.Run("terminal", func(t *testing.T) { watchTerminal(t) })
}

// a rollback ends the watch with exit 1; JSON lines validate
func watchRollback(t *testing.T) {
	e2 := statusEnv(t)
	e2.onSleep = func() {
		e2.ecs.set(1, func(d *ecstypes.ServiceDeployment) {
			d.Status, d.LifecycleStage = ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp
		})
		_ = e2.ledger().ReleaseLock(context.Background(), "prod/web", "exec-d/prod/web")
		_ = e2.ledger().Dequeue(context.Background(), "prod/web", "exec-e/prod/web")
	}
	out, _ := e2.mustRun(1, "status", "--watch", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("json watch: %d lines, want 2", len(lines))
	}
	for _, l := range lines {
		checkSchema(t, "status", l)
	}
	var last StatusViewJSON
	_ = json.Unmarshal([]byte(lines[1]), &last)
	if last.Services[0].Deployment.Status != "ROLLBACK_SUCCESSFUL" {
		t.Errorf("last line: %+v", last)
	}

}

// a terminal redraws the screen
func watchTerminal(t *testing.T) {
	e3 := statusEnv(t)
	e3.tty = true
	e3.onSleep = func() {
		e3.ecs.set(1, func(d *ecstypes.ServiceDeployment) { d.Status = ecstypes.ServiceDeploymentStatusSuccessful })
		_ = e3.ledger().ReleaseLock(context.Background(), "prod/web", "exec-d/prod/web")
	}
	out, _ := e3.mustRun(0, "status", "--service", "prod/web", "--watch", "--no-color")
	if strings.Count(out, "\x1b[H\x1b[2J") != 2 || !strings.Contains(out, "timeline  10:00:00 BAKE_TIME") {
		t.Errorf("terminal watch:\n%q", out)
	}
}

// StatusViewJSON is the part of the status JSON the watch test reads back.
type StatusViewJSON struct {
	Services []struct {
		Deployment struct {
			Status string `json:"status"`
		} `json:"deployment"`
	} `json:"services"`
}

func tp(t time.Time) *time.Time { return &t }
