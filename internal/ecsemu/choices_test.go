package ecsemu

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestFirstDeploymentBlueGreen checks Choices.FirstDeployment = BLUE_GREEN (reference §2.5,
// last bullet: hooks fire on the first deployment, with no blue).
func TestFirstDeploymentBlueGreen(t *testing.T) {
	h := newHarness(t, harnessOpts{choices: Choices{FirstDeployment: FirstDeploymentBlueGreen}})
	_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
	ds, _ := h.em.Deployments("prod", name)
	r := ds[0]
	if len(r.SourceRevisionARNs) != 0 || r.TargetGroup != tgB || len(r.Hooks) != len(allHookStages) {
		t.Fatalf("first deployment: sources %v, target group %s, %d hook invocations", r.SourceRevisionARNs, r.TargetGroup, len(r.Hooks))
	}
	for _, inv := range r.Hooks {
		var ev hookEvent
		_ = json.Unmarshal(inv.Payload, &ev)
		for _, w := range []map[string]float64{ev.ExecutionDetails.TestTrafficWeights, ev.ExecutionDetails.ProductionTrafficWeights} {
			if len(w) > 1 {
				t.Errorf("%s weights %v name a blue that does not exist", inv.Stage, w)
			}
		}
	}
	prodURL, _, _ := h.em.Listeners("prod", name)
	if _, body := get(t, prodURL); body != "blue" {
		t.Errorf("production answers %q", body)
	}
}

// TestHookDetailsScope checks both readings of reference §2.1's "same hook in the same
// deployment": hookDetails returned at POST_SCALE_UP reach POST_TEST_TRAFFIC_SHIFT only
// with the per-deployment scope.
func TestHookDetailsScope(t *testing.T) {
	for _, scope := range []HookDetailsScope{HookDetailsPerDeployment, HookDetailsPerStage} {
		t.Run(string(scope), func(t *testing.T) {
			h := newHarness(t, harnessOpts{choices: Choices{HookDetailsScope: scope}})
			_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{
				lambdaHook(ecstypes.DeploymentLifecycleHookStagePostScaleUp, ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift)}})
			h.setScript(func(ev hookEvent, rollback bool, call int) string {
				if ev.LifecycleStage == StagePostScaleUp && call == 1 {
					return `{"hookStatus":"IN_PROGRESS","callBackDelay":1,"hookDetails":{"token":"abc"}}`
				}
				return `{"hookStatus":"SUCCEEDED"}`
			})
			r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
			last := r.Hooks[len(r.Hooks)-1]
			var ev hookEvent
			_ = json.Unmarshal(last.Payload, &ev)
			carried := mustJSON(ev.HookDetails) == `{"token":"abc"}`
			if last.Stage != StagePostTestTrafficShift || carried != (scope == HookDetailsPerDeployment) {
				t.Errorf("%s: hookDetails at %s = %s", scope, last.Stage, mustJSON(ev.HookDetails))
			}
		})
	}
}

// TestNoCircuitBreakerInBlueGreen checks Choices.NoCircuitBreakerInBlueGreen (reference
// §5.4 [UNCONFIRMED]): failed tasks are counted and replaced, but nothing trips.
func TestNoCircuitBreakerInBlueGreen(t *testing.T) {
	h := newHarness(t, harnessOpts{choices: Choices{NoCircuitBreakerInBlueGreen: true}})
	_, name := h.create(svcSpec{desired: 1, cb: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}})
	arn := h.deploy(name, map[string]string{"VERSION": "green", "EXIT_AT_START": "1"})
	waitFor(t, "4 failed green tasks", func() bool {
		r, _ := h.em.Report(arn)
		return r.CircuitBreakerFailures >= 4
	})
	d := h.describe(arn)
	if d.Status != ecstypes.ServiceDeploymentStatusInProgress || d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageScaleUp ||
		d.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusDisabled {
		t.Errorf("deployment %s in %s, circuit breaker %s; want still IN_PROGRESS in SCALE_UP with the breaker DISABLED", d.Status, d.LifecycleStage, d.DeploymentCircuitBreaker.Status)
	}
	if _, err := h.ecs.StopServiceDeployment(h.ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if r := h.wait(arn); r.Status != StatusRollbackSuccessful {
		t.Errorf("stopped deployment ended %s", r.Status)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{TimeScale: 2},
		{TaskAddressBase: "10.0.0.2"},
		{TaskAddressBase: "127.0.0.1"},
		{Choices: Choices{AlarmsFrom: "SOMETIME"}},
		{Choices: Choices{FirstDeployment: "MAYBE"}},
	} {
		if _, err := New(t.Context(), o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
