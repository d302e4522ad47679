package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestStatusOutcomeEveryStatus(t *testing.T) {
	tests := []struct {
		status   string
		terminal bool
		want     result.Outcome
	}{
		{"PENDING", false, result.Failed},
		{"IN_PROGRESS", false, result.Failed},
		{"SUCCESSFUL", true, result.Succeeded},
		{"STOPPED", true, result.Failed},
		{"STOP_REQUESTED", false, result.Failed},
		{"ROLLBACK_REQUESTED", false, result.Failed},
		{"ROLLBACK_IN_PROGRESS", false, result.Failed},
		{"ROLLBACK_SUCCESSFUL", true, result.RolledBack},
		{"ROLLBACK_FAILED", true, result.Failed},
	}
	if len(tests) != 9 {
		t.Fatalf("ECS has nine ServiceDeploymentStatus values; the table has %d", len(tests))
	}
	for _, tt := range tests {
		if got := deploy.StatusOutcome(tt.status); got != tt.want {
			t.Errorf("StatusOutcome(%s) = %s; want %s", tt.status, got, tt.want)
		}
		if got := deploy.Terminal(tt.status); got != tt.terminal {
			t.Errorf("Terminal(%s) = %v; want %v", tt.status, got, tt.terminal)
		}
	}
}

func TestAdaptiveWait(t *testing.T) {
	def := deploy.PollBounds{Min: 5, Max: 60}
	tests := []struct {
		name          string
		status, stage string
		inStage       time.Duration
		scale         workflow.TimeScale
		bounds        deploy.PollBounds
		want          int
	}{
		{"traffic shift is short", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 0, 1, def, 5},
		{"test traffic shift is short", "IN_PROGRESS", "TEST_TRAFFIC_SHIFT", 0, 1, def, 5},
		{"hooks", "IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0, 1, def, 10},
		{"scale up", "IN_PROGRESS", "SCALE_UP", 0, 1, def, 15},
		{"bake is long", "IN_PROGRESS", "BAKE_TIME", 0, 1, def, 60},
		{"bake clamped by max", "IN_PROGRESS", "BAKE_TIME", 0, 1, deploy.PollBounds{Min: 5, Max: 30}, 30},
		{"clean up", "IN_PROGRESS", "CLEAN_UP", 0, 1, def, 30},
		{"rollback overrides the stage", "ROLLBACK_IN_PROGRESS", "BAKE_TIME", 0, 1, def, 10},
		{"pending", "PENDING", "", 0, 1, def, 10},
		{"unknown stage", "IN_PROGRESS", "SOMETHING_NEW", 0, 1, def, 15},
		{"scaled then clamped up to min", "IN_PROGRESS", "BAKE_TIME", 0, 0.01, def, 5},
		{"tests pin 1 s", "IN_PROGRESS", "BAKE_TIME", 0, 0.01, deploy.PollBounds{Min: 1, Max: 1}, 1},
		{"scaled within bounds", "IN_PROGRESS", "BAKE_TIME", 0, 0.5, def, 30},
		// A stage that lasts backs off to a quarter of the time spent in it.
		{"shift still short after 20 s", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 20 * time.Second, 1, def, 5},
		{"canary wait after 2 min", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 2 * time.Minute, 1, def, 30},
		{"linear after 30 min, clamped", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 30 * time.Minute, 1, def, 60},
		{"long scale up", "IN_PROGRESS", "SCALE_UP", 2 * time.Minute, 1, def, 30},
		{"back-off is real time, not scaled", "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 8 * time.Second, 0.01, deploy.PollBounds{Min: 1, Max: 60}, 2},
		{"no back-off in a rollback", "ROLLBACK_IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 10 * time.Minute, 1, def, 10},
	}
	for _, tt := range tests {
		if got := deploy.AdaptiveWait(tt.status, tt.stage, tt.inStage, tt.scale, tt.bounds); got != tt.want {
			t.Errorf("%s: AdaptiveWait(%s, %s, %v, %v, %+v) = %d; want %d", tt.name, tt.status, tt.stage, tt.inStage, tt.scale, tt.bounds, got, tt.want)
		}
	}
}

const routesDoc = `{"version": 1, "routes": [
  {"name": "web-prod", "repository": "web", "tagPattern": "v\\d+\\.\\d+\\.\\d+",
   "targets": [{"cluster": "prod", "service": "web", "container": "app"}, {"cluster": "prod", "service": "web-canary", "container": "app"}]},
  {"name": "web-all", "repository": "web", "tagPattern": ".*",
   "targets": [{"cluster": "prod", "service": "web", "container": "other"}, {"cluster": "staging", "service": "web", "container": "app"}]},
  {"name": "api", "repository": "team/api", "tagPattern": "main-[0-9a-f]{7}", "targets": [{"cluster": "prod", "service": "api", "container": "api"}]}
]}`

func TestMatchTargets(t *testing.T) {
	doc := routes.MustParse([]byte(routesDoc))
	tests := []struct {
		repo, tag string
		want      []string // route:cluster/service:container
	}{
		{"web", "v1.2.3", []string{"web-prod:prod/web:app", "web-prod:prod/web-canary:app", "web-all:staging/web:app"}},
		{"web", "latest", []string{"web-all:prod/web:other", "web-all:staging/web:app"}},
		{"web", "v1.2.3-rc1", []string{"web-all:prod/web:other", "web-all:staging/web:app"}}, // the pattern matches the whole tag
		{"team/api", "main-0a1b2c3", []string{"api:prod/api:api"}},
		{"team/api", "main-0a1b2c3x", nil},
		{"other", "v1.0.0", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range deploy.MatchTargets(doc, tt.repo, tt.tag) {
			got = append(got, m.Route.Name+":"+m.Target.Key()+":"+m.Target.Container)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("MatchTargets(%s, %s) = %v; want %v", tt.repo, tt.tag, got, tt.want)
		}
	}
	if s := deploy.NoRouteSummary(doc, "team/api", "feature-x"); !strings.Contains(s, "main-[0-9a-f]{7} (api)") {
		t.Errorf("NoRouteSummary for a known repository = %q; want the patterns that exist", s)
	}
	if s := deploy.NoRouteSummary(doc, "other", "v1"); !strings.Contains(s, "team/api, web") {
		t.Errorf("NoRouteSummary for an unknown repository = %q; want the repositories that have routes", s)
	}
}

func pushEvent() workflow.ExecutionInput {
	return workflow.ExecutionInput{
		ID: "13cde686-328b-6117-af20-0e5566167482", Source: "aws.ecr", DetailType: "ECR Image Action",
		Account: "111122223333", Region: "eu-west-1", Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		Detail: &workflow.ECRPushDetail{ActionType: "PUSH", Result: "SUCCESS", RepositoryName: "web", ImageDigest: digestA, ImageTag: "v1.2.3"},
	}
}

func TestValidatePush(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*workflow.ExecutionInput)
		want   string
	}{
		{"valid", func(*workflow.ExecutionInput) {}, ""},
		{"source", func(e *workflow.ExecutionInput) { e.Source = "aws.ecs" }, "source"},
		{"delete", func(e *workflow.ExecutionInput) { e.Detail.ActionType = "DELETE" }, "detail.action-type"},
		{"failed push", func(e *workflow.ExecutionInput) { e.Detail.Result = "FAILURE" }, "detail.result"},
		{"no tag", func(e *workflow.ExecutionInput) { e.Detail.ImageTag = "" }, "detail.image-tag"},
		{"short digest", func(e *workflow.ExecutionInput) { e.Detail.ImageDigest = "sha256:abc" }, "detail.image-digest"},
		{"upper-case digest", func(e *workflow.ExecutionInput) { e.Detail.ImageDigest = strings.ToUpper(digestA) }, "detail.image-digest"},
		{"repository", func(e *workflow.ExecutionInput) { e.Detail.RepositoryName = "Web App" }, "detail.repository-name"},
		{"account", func(e *workflow.ExecutionInput) { e.Account = "1234" }, "account"},
	}
	for _, tt := range tests {
		e := pushEvent()
		d := *e.Detail
		e.Detail = &d
		tt.mutate(&e)
		err := deploy.ValidatePush(e)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: ValidatePush = %v; want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || workflow.Name(err) != workflow.ErrInput {
			t.Errorf("%s: ValidatePush = %v (%s); want a greenlight.Input error naming %s", tt.name, err, workflow.Name(err), tt.want)
		}
	}
}

func TestDriftWarning(t *testing.T) {
	hist := []result.Result{
		{ID: "e3", Outcome: result.RolledBack, TaskDefinitionARN: "td:9"},
		{ID: "e2", Outcome: result.Succeeded, TaskDefinitionARN: "td:8"},
		{ID: "e1", Outcome: result.Succeeded, TaskDefinitionARN: "td:7"},
	}
	if w := deploy.DriftWarning(hist, "td:8"); w != "" {
		t.Errorf("DriftWarning(current = last success) = %q; want none", w)
	}
	if w := deploy.DriftWarning(hist, "td:5"); !strings.Contains(w, "td:5") || !strings.Contains(w, "td:8") {
		t.Errorf("DriftWarning(changed outside) = %q; want both revisions named", w)
	}
	if w := deploy.DriftWarning(nil, "td:5"); w != "" {
		t.Errorf("DriftWarning(no history) = %q; want none", w)
	}
}

func TestExecutionName(t *testing.T) {
	arn := "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:0f1e2d3c"
	if got := deploy.ExecutionName(arn); got != "0f1e2d3c" {
		t.Errorf("ExecutionName(%s) = %s", arn, got)
	}
}

// TestObserveProductionShare: the result keeps the most production green was given, through
// a canary step and the rollback that puts the weight back to 0.
func TestObserveProductionShare(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	d := &workflow.DeploymentState{}
	look := func(status ecstypes.ServiceDeploymentStatus, stage ecstypes.ServiceDeploymentLifecycleStage, w *float64) {
		deploy.Observe(d, &ecstypes.ServiceDeployment{Status: status, LifecycleStage: stage,
			TargetServiceRevision: &ecstypes.ServiceRevisionSummary{Arn: aws.String("green"), RequestedProductionTrafficWeight: w}}, t0)
	}
	look(ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStageScaleUp, nil)
	if d.ProductionPercent != nil {
		t.Fatalf("share %v before ECS reported one", *d.ProductionPercent)
	}
	for _, step := range []struct {
		status ecstypes.ServiceDeploymentStatus
		stage  ecstypes.ServiceDeploymentLifecycleStage
		weight float64
		want   float64
	}{
		{ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStagePostScaleUp, 0, 0},
		{ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift, 10, 10},
		{ecstypes.ServiceDeploymentStatusRollbackInProgress, ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift, 0, 10},
		{ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp, 0, 10},
	} {
		look(step.status, step.stage, aws.Float64(step.weight))
		if d.ProductionPercent == nil || *d.ProductionPercent != step.want {
			t.Errorf("after %s at %s with weight %g: share %v, want %g", step.status, step.stage, step.weight, d.ProductionPercent, step.want)
		}
	}
}

func TestPlannedWaits(t *testing.T) {
	m := time.Minute
	i32, f64 := aws.Int32, aws.Float64
	for _, tc := range []struct {
		name string
		dc   *ecstypes.DeploymentConfiguration
		want time.Duration
	}{
		{"no configuration", nil, 0},
		{"blue/green: the bake", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: i32(5)}, 5 * m},
		{"linear defaults: nine 6-minute waits", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear, BakeTimeInMinutes: i32(5)}, 59 * m},
		{"linear 3 %: 33 waits", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
			LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: f64(3), StepBakeTimeInMinutes: i32(6)}}, 198 * m},
		{"linear 33.3 %: three waits", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
			LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: f64(33.3), StepBakeTimeInMinutes: i32(2)}}, 6 * m},
		{"linear 100 %: none", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
			LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: f64(100)}}, 0},
		{"canary defaults: 10 minutes", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary}, 10 * m},
		{"canary for a day", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary, BakeTimeInMinutes: i32(10),
			CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryPercent: f64(1), CanaryBakeTimeInMinutes: i32(1440)}}, 1450 * m},
		{"canary 100 %: no canary wait", &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
			CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryPercent: f64(100), CanaryBakeTimeInMinutes: i32(30)}}, 0},
	} {
		if got := deploy.PlannedWaits(tc.dc); got != tc.want {
			t.Errorf("%s: PlannedWaits = %v, want %v", tc.name, got, tc.want)
		}
	}
}
