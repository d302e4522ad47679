package smoketest

import (
	"strings"
	"testing"
)

func TestIdentify(t *testing.T) {
	id, err := identify(event(StagePostScaleUp, ""))
	if err != nil || id.key() != "prod/web" || id.Region != "eu-west-1" || id.Account != acct {
		t.Fatalf("identify(sample) = %+v, %v", id, err)
	}
	oldForm := event(StagePostScaleUp, "")
	oldForm.ExecutionDetails.ServiceArn = "arn:aws:ecs:eu-west-1:" + acct + ":service/web"
	if _, err := identify(oldForm); err != nil {
		t.Errorf("old service ARN form: %v", err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*HookEvent)
		want string
	}{
		{"not an ARN", func(e *HookEvent) { e.ResourceArn = "EZe5RNVLH6PPzHXINuP28" }, "resourceArn: \"EZe5RNVLH6PPzHXINuP28\" is not an ECS service-deployment ARN"},
		{"wrong type", func(e *HookEvent) { e.ResourceArn = serviceARN }, "is a service ARN, want a service-deployment ARN"},
		{"other service", func(e *HookEvent) { e.ExecutionDetails.ServiceArn = strings.Replace(serviceARN, "/web", "/api", 1) }, "is not the service of resourceArn"},
		{"other account", func(e *HookEvent) {
			e.ExecutionDetails.ServiceArn = strings.Replace(serviceARN, acct, "999999999999", 1)
		}, "is not the service of resourceArn"},
		{"revision of another service", func(e *HookEvent) {
			e.ExecutionDetails.TargetServiceRevisionArn = strings.Replace(greenRevARN, "prod/web", "prod/api", 1)
		}, "is not a revision of the service"},
		{"empty part", func(e *HookEvent) { e.ResourceArn = strings.Replace(sdARN, "prod/web", "prod//web", 1) }, "has an empty part"},
	} {
		ev := event(StagePostScaleUp, "")
		tc.mut(&ev)
		if _, err := identify(ev); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: identify = %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRollbackReinvocation(t *testing.T) {
	w := func(green, blue float64) map[string]float64 {
		return map[string]float64{greenRevARN: green, blueRevARN: blue}
	}
	for _, tc := range []struct {
		name       string
		stage      string
		test, prod map[string]float64
		want       bool
	}{
		{"rollback at PRODUCTION_TRAFFIC_SHIFT", StageProductionTrafficShift, nil, w(0, 100), true},
		{"forward PRODUCTION_TRAFFIC_SHIFT", StageProductionTrafficShift, nil, w(100, 0), false},
		{"canary step", StageProductionTrafficShift, nil, w(10, 90), false},
		{"rollback at TEST_TRAFFIC_SHIFT", StageTestTrafficShift, w(0, 100), nil, true},
		{"forward TEST_TRAFFIC_SHIFT", StageTestTrafficShift, w(100, 0), nil, false},
		{"green absent from the map", StageProductionTrafficShift, nil, map[string]float64{blueRevARN: 100}, true},
		{"before the production shift blue at 100 is normal", StagePreProductionTrafficShift, nil, w(0, 100), false},
		{"empty maps", StagePostTestTrafficShift, map[string]float64{}, map[string]float64{}, false},
		{"all zero", StageProductionTrafficShift, nil, w(0, 0), false},
	} {
		ev := event(tc.stage, "")
		ev.ExecutionDetails.TestTrafficWeights, ev.ExecutionDetails.ProductionTrafficWeights = tc.test, tc.prod
		if got, why := rollbackReinvocation(ev); got != tc.want {
			t.Errorf("%s: rollbackReinvocation = %v (%s); want %v", tc.name, got, why, tc.want)
		}
	}
}

func TestSameService(t *testing.T) {
	old := "arn:aws:ecs:eu-west-1:" + acct + ":service/web"
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{serviceARN, serviceARN, true},
		{serviceARN, old, true},
		{serviceARN, strings.Replace(serviceARN, "prod/web", "staging/web", 1), false},
		{serviceARN, strings.Replace(serviceARN, "/web", "/api", 1), false},
		{serviceARN, strings.Replace(serviceARN, acct, "999999999999", 1), false},
		{serviceARN, "web", false},
	} {
		if got := sameService(tc.a, tc.b); got != tc.want {
			t.Errorf("sameService(%s, %s) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
