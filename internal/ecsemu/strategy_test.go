package ecsemu

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func TestTrafficSteps(t *testing.T) {
	f, i := func(v float64) *float64 { return &v }, func(v int) *int { return &v }
	m := time.Minute
	for _, tc := range []struct {
		name string
		cfg  deploymentConfiguration
		want []trafficStep
	}{
		{"blue/green: all at once", deploymentConfiguration{Strategy: StrategyBlueGreen}, []trafficStep{{100, 0}}},
		{"linear defaults: 10 % every 6 min", deploymentConfiguration{Strategy: StrategyLinear},
			[]trafficStep{{10, 6 * m}, {20, 6 * m}, {30, 6 * m}, {40, 6 * m}, {50, 6 * m}, {60, 6 * m}, {70, 6 * m}, {80, 6 * m}, {90, 6 * m}, {100, 0}}},
		{"linear 30 %: the last step is the rest, with no bake after it", deploymentConfiguration{Strategy: StrategyLinear,
			LinearConfiguration: &linearConfiguration{StepPercent: f(30), StepBakeTimeInMinutes: i(2)}},
			[]trafficStep{{30, 2 * m}, {60, 2 * m}, {90, 2 * m}, {100, 0}}},
		{"linear 33.3 %", deploymentConfiguration{Strategy: StrategyLinear,
			LinearConfiguration: &linearConfiguration{StepPercent: f(33.3), StepBakeTimeInMinutes: i(0)}},
			[]trafficStep{{33.3, 0}, {66.6, 0}, {99.9, 0}, {100, 0}}},
		{"linear 100 % is blue/green", deploymentConfiguration{Strategy: StrategyLinear,
			LinearConfiguration: &linearConfiguration{StepPercent: f(100)}}, []trafficStep{{100, 0}}},
		{"canary defaults: 5 % for 10 min", deploymentConfiguration{Strategy: StrategyCanary}, []trafficStep{{5, 10 * m}, {100, 0}}},
		{"canary 0.1 % for 1 min", deploymentConfiguration{Strategy: StrategyCanary,
			CanaryConfiguration: &canaryConfiguration{CanaryPercent: f(0.1), CanaryBakeTimeInMinutes: i(1)}}, []trafficStep{{0.1, m}, {100, 0}}},
		{"canary 100 %", deploymentConfiguration{Strategy: StrategyCanary,
			CanaryConfiguration: &canaryConfiguration{CanaryPercent: f(100)}}, []trafficStep{{100, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := trafficSteps(tc.cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("trafficSteps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStrategyValid(t *testing.T) {
	f, i := func(v float64) *float64 { return &v }, func(v int) *int { return &v }
	for _, tc := range []struct {
		cfg  deploymentConfiguration
		want string // "" for valid, else a part of the error
	}{
		{deploymentConfiguration{Strategy: StrategyBlueGreen, BakeTimeInMinutes: i(5)}, ""},
		{deploymentConfiguration{Strategy: StrategyBlueGreen}, "bakeTimeInMinutes is required"},
		{deploymentConfiguration{Strategy: StrategyBlueGreen, BakeTimeInMinutes: i(1441)}, "bakeTimeInMinutes 1441 is out of range"},
		{deploymentConfiguration{Strategy: "ROLLING"}, `strategy "ROLLING"`},
		{deploymentConfiguration{Strategy: StrategyLinear}, ""},
		{deploymentConfiguration{Strategy: StrategyLinear, LinearConfiguration: &linearConfiguration{StepPercent: f(2.9)}}, "stepPercent 2.9 is not allowed: use a multiple of 0.1 from 3 to 100"},
		{deploymentConfiguration{Strategy: StrategyLinear, LinearConfiguration: &linearConfiguration{StepPercent: f(10.05)}}, "stepPercent 10.05"},
		{deploymentConfiguration{Strategy: StrategyLinear, LinearConfiguration: &linearConfiguration{StepBakeTimeInMinutes: i(-1)}}, "stepBakeTimeInMinutes -1 is out of range"},
		{deploymentConfiguration{Strategy: StrategyCanary, CanaryConfiguration: &canaryConfiguration{CanaryPercent: f(0.1), CanaryBakeTimeInMinutes: i(1440)}}, ""},
		{deploymentConfiguration{Strategy: StrategyCanary, CanaryConfiguration: &canaryConfiguration{CanaryPercent: f(0)}}, "canaryPercent 0 is not allowed"},
		{deploymentConfiguration{Strategy: StrategyCanary, LinearConfiguration: &linearConfiguration{}}, "linearConfiguration is only allowed with strategy LINEAR"},
		{deploymentConfiguration{Strategy: StrategyBlueGreen, BakeTimeInMinutes: i(0), CanaryConfiguration: &canaryConfiguration{}}, "canaryConfiguration is only allowed with strategy CANARY"},
	} {
		err := strategyValid(tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestALBWeights(t *testing.T) {
	for _, tc := range []struct {
		green float64
		g, b  int
	}{{100, 100, 0}, {0, 0, 100}, {10, 100, 899}, {0.1, 1, 998}, {50, 500, 499}, {99.9, 998, 1}} {
		if g, b := albWeights(tc.green); g != tc.g || b != tc.b {
			t.Errorf("albWeights(%g) = %d/%d, want %d/%d", tc.green, g, b, tc.g, tc.b)
		}
	}
}

// prodShiftHooks returns the production weights each PRE_PRODUCTION_TRAFFIC_SHIFT and
// PRODUCTION_TRAFFIC_SHIFT hook saw, as "STAGE green%".
func prodShiftHooks(t *testing.T, r DeploymentReport) []string {
	t.Helper()
	var out []string
	for _, inv := range r.Hooks {
		if inv.Rollback || (inv.Stage != StagePreProductionTrafficShift && inv.Stage != StageProductionTrafficShift) {
			continue
		}
		var ev hookEvent
		if err := json.Unmarshal(inv.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		w := ev.ExecutionDetails.ProductionTrafficWeights
		if g, b := w[r.TargetRevisionARN], w[r.SourceRevisionARNs[0]]; g+b != 100 {
			t.Errorf("%s weights %v do not add up to 100", inv.Stage, w)
		}
		out = append(out, inv.Stage+" "+strconv.FormatFloat(w[r.TargetRevisionARN], 'g', -1, 64))
	}
	return out
}

// TestLinearDeployment: LINEAR 40 % moves production 40, 80, 100 with both production hooks
// at every step (reference §2.5), and ends like a blue/green deployment.
func TestLinearDeployment(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 2, bake: 1, strategy: ecstypes.DeploymentStrategyLinear,
		linear: &ecstypes.LinearConfiguration{StepPercent: aws.Float64(40), StepBakeTimeInMinutes: aws.Int32(1)},
		hooks:  []ecstypes.DeploymentLifecycleHook{lambdaHook(ecstypes.DeploymentLifecycleHookStagePreProductionTrafficShift, ecstypes.DeploymentLifecycleHookStageProductionTrafficShift)}})
	prodURL, _, _ := h.em.Listeners("prod", name)
	l := startLoad(prodURL)
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	served, failed, bodies, failures := l.finish()
	if r.Status != StatusSuccessful {
		t.Fatalf("status %s (%s)", r.Status, r.StatusReason)
	}
	want := []string{
		StagePreProductionTrafficShift + " 0", StageProductionTrafficShift + " 40",
		StagePreProductionTrafficShift + " 40", StageProductionTrafficShift + " 80",
		StagePreProductionTrafficShift + " 80", StageProductionTrafficShift + " 100",
	}
	if got := prodShiftHooks(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("production hooks saw %v, want %v", got, want)
	}
	var stages []string
	for _, st := range r.StageNames() {
		if st == StagePreProductionTrafficShift || st == StageProductionTrafficShift {
			stages = append(stages, st)
		}
	}
	if len(stages) != 6 {
		t.Errorf("production stages %v, want PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT three times", stages)
	}
	if failed > 0 || bodies["green"] == 0 || bodies["blue"] == 0 {
		t.Errorf("production served %d (failed %d: %v), bodies %v", served, failed, failures, bodies)
	}
	if _, body := get(t, prodURL); body != "green" {
		t.Errorf("production answers %q after the deployment", body)
	}
}

// TestCanaryShare: during the canary bake production forwards the canary's share to green,
// the service deployment reports it, and the hook saw it.
func TestCanaryShare(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 2, bake: 0, strategy: ecstypes.DeploymentStrategyCanary,
		canary: &ecstypes.CanaryConfiguration{CanaryPercent: aws.Float64(20), CanaryBakeTimeInMinutes: aws.Int32(5)},
		hooks:  []ecstypes.DeploymentLifecycleHook{lambdaHook(ecstypes.DeploymentLifecycleHookStageProductionTrafficShift)}})
	prodURL, _, _ := h.em.Listeners("prod", name)
	arn := h.deploy(name, map[string]string{"VERSION": "green"})
	waitFor(t, "the canary step", func() bool {
		d := h.describe(arn)
		return d.TargetServiceRevision != nil && aws.ToFloat64(d.TargetServiceRevision.RequestedProductionTrafficWeight) == 20
	})
	bodies := map[string]int{}
	for range 200 {
		_, body := get(t, prodURL)
		bodies[body]++
	}
	// 200 draws at 20 %: 40 expected, under 20 or over 65 is well past four deviations.
	if g := bodies["green"]; g < 20 || g > 65 || bodies["green"]+bodies["blue"] != 200 {
		t.Errorf("production during the canary: %v, want about 20 %% green", bodies)
	}
	r := h.wait(arn)
	if r.Status != StatusSuccessful {
		t.Fatalf("status %s (%s)", r.Status, r.StatusReason)
	}
	if got, want := prodShiftHooks(t, r), []string{StageProductionTrafficShift + " 20", StageProductionTrafficShift + " 100"}; !reflect.DeepEqual(got, want) {
		t.Errorf("production hooks saw %v, want %v", got, want)
	}
}

// TestCanaryAlarmRollsBack: green failing every request trips the 5xx-rate alarm while it
// holds only the canary's share, and ECS rolls back from PRODUCTION_TRAFFIC_SHIFT: production
// back on blue, and far fewer failed requests than the canary share of the whole run.
func TestCanaryAlarmRollsBack(t *testing.T) {
	const alarm = "web-5xx-rate"
	h := newHarness(t, harnessOpts{cw: newFakeCW(rateAlarm(alarm, lbName, tgA, tgB))})
	_, name := h.create(svcSpec{desired: 2, bake: 1, strategy: ecstypes.DeploymentStrategyCanary,
		canary: &ecstypes.CanaryConfiguration{CanaryPercent: aws.Float64(20), CanaryBakeTimeInMinutes: aws.Int32(10)},
		alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{alarm}, Enable: true, Rollback: true}})
	prodURL, _, _ := h.em.Listeners("prod", name)
	l := startLoad(prodURL)
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green", "ERROR_RATE": "1"}))
	served, failed, _, _ := l.finish()
	if r.Status != StatusRollbackSuccessful || !strings.Contains(r.StatusReason, alarm) {
		t.Fatalf("status %s (%s), want ROLLBACK_SUCCESSFUL naming %s", r.Status, r.StatusReason, alarm)
	}
	if got := r.Statuses[2].Stage; got != StageProductionTrafficShift {
		t.Errorf("rollback requested in %s, want PRODUCTION_TRAFFIC_SHIFT (the canary bake)", got)
	}
	if failed == 0 || failed*2 > served {
		t.Errorf("%d of %d production requests failed; want some (the canary's share), far from all", failed, served)
	}
	if _, body := get(t, prodURL); body != "blue" {
		t.Errorf("production answers %q after the rollback", body)
	}
}
