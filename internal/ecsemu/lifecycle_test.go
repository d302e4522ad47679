package ecsemu

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// allHookStages are the stages a Lambda hook can be attached to (reference §1.2), except
// RECONCILE_SERVICE, which only runs over an unfinished deployment.
var allHookStages = []ecstypes.DeploymentLifecycleHookStage{
	ecstypes.DeploymentLifecycleHookStagePreScaleUp, ecstypes.DeploymentLifecycleHookStagePostScaleUp,
	ecstypes.DeploymentLifecycleHookStageTestTrafficShift, ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift,
	ecstypes.DeploymentLifecycleHookStagePreProductionTrafficShift, ecstypes.DeploymentLifecycleHookStageProductionTrafficShift,
	ecstypes.DeploymentLifecycleHookStagePostProductionTrafficShift,
}

// TestHealthyDeploymentStageOrder follows reference §2.5: the stages in ECS's order, the
// statuses of §3, green in the idle target group, production never failing (§5.3: blue
// serves until the flip).
func TestHealthyDeploymentStageOrder(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{bake: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
	prodURL, testURL, err := h.em.Listeners("prod", name)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, prodURL); code != 200 || body != "blue" {
		t.Fatalf("before the deployment production answers %d %q, want 200 blue", code, body)
	}
	l := startLoad(prodURL)
	arn := h.deploy(name, map[string]string{"VERSION": "green"})
	r := h.wait(arn)
	served, failed, bodies, failures := l.finish()

	want := []string{StagePreScaleUp, StageScaleUp, StagePostScaleUp, StageTestTrafficShift, StagePostTestTrafficShift,
		StagePreProductionTrafficShift, StageProductionTrafficShift, StagePostProductionTrafficShift, StageBakeTime, StageCleanUp}
	if got := r.StageNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("stages = %v\nwant     %v", got, want)
	}
	if got, want := r.StatusNames(), []string{StatusPending, StatusInProgress, StatusSuccessful}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if r.TargetGroup != tgB {
		t.Errorf("green went to %s, want the idle target group %s", r.TargetGroup, tgB)
	}
	if failed != 0 {
		t.Errorf("production failed %d of %d requests during a successful deployment: %v", failed, served+failed, failures[:min(5, len(failures))])
	}
	if bodies["blue"] == 0 || bodies["green"] == 0 {
		t.Errorf("production answers by version = %v; want both blue (before the shift) and green (after)", bodies)
	}
	for _, u := range []string{prodURL, testURL} {
		if code, body := get(t, u); code != 200 || body != "green" {
			t.Errorf("after the deployment %s answers %d %q, want 200 green", u, code, body)
		}
	}
	d := h.describe(arn)
	if d.Status != ecstypes.ServiceDeploymentStatusSuccessful || d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageCleanUp {
		t.Errorf("DescribeServiceDeployments: %s in %s", d.Status, d.LifecycleStage)
	}
	if n := len(d.SourceServiceRevisions); n != 1 {
		t.Fatalf("sourceServiceRevisions: %d, want 1 (blue)", n)
	}
	if tr := d.TargetServiceRevision; aws.ToFloat64(tr.RequestedProductionTrafficWeight) != 100 || tr.RunningTaskCount != 2 {
		t.Errorf("target revision: production weight %v, running %d; want 100 and 2", aws.ToFloat64(tr.RequestedProductionTrafficWeight), tr.RunningTaskCount)
	}
	if src := d.SourceServiceRevisions[0]; src.RunningTaskCount != 0 || src.RequestedTaskCount != 0 {
		t.Errorf("blue after CLEAN_UP: running %d, requested %d; want 0", src.RunningTaskCount, src.RequestedTaskCount)
	}
	// Every stage of the report has both durations, the emulated one at AWS speed.
	for _, s := range r.Stages {
		if s.Wall <= 0 || s.Emulated < s.Wall {
			t.Errorf("stage %s: wall %v, emulated %v", s.Stage, s.Wall, s.Emulated)
		}
		if s.Stage == StageBakeTime && s.Emulated.Minutes() < 1 {
			t.Errorf("BAKE_TIME emulated %v, want at least the 1-minute bake", s.Emulated)
		}
	}
	// The service's taskDefinition is green's.
	svc, err := h.ecs.DescribeServices(h.ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	if td := aws.ToString(svc.Services[0].TaskDefinition); !strings.HasSuffix(td, ":2") {
		t.Errorf("service taskDefinition = %s, want web:2", td)
	}
}
