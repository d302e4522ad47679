package ecsemu

import (
	"testing"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// BenchmarkHealthyDeployment measures the wall time of one healthy blue/green deployment at
// the default compression (TimeScale 0.01) with the ALB's default health check (30 s
// interval, 5 healthy checks), 2 tasks, a 5-minute bake and a smoke-test hook at
// POST_TEST_TRAFFIC_SHIFT: the shape of greenlight's quick start.
func BenchmarkHealthyDeployment(b *testing.B) {
	h := newHarness(b, harnessOpts{scale: DefaultTimeScale, tgs: map[string]TargetGroupConfig{}})
	_, name := h.create(svcSpec{desired: 2, bake: 5, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift)}})
	var emulated time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := h.wait(h.deploy(name, map[string]string{"VERSION": "v"}))
		if r.Status != StatusSuccessful {
			b.Fatalf("deployment %s: %s", r.Status, r.StatusReason)
		}
		emulated += r.Emulated
	}
	b.ReportMetric(emulated.Seconds()/float64(b.N), "emulated-s/op")
}
