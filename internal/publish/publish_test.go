package publish_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/explain"
	"github.com/greenlight-deploy/greenlight/internal/publish"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestAssemble(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	j := workflow.Job{
		ID: "e1/prod/web", ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:gl-deploy:e1", Region: "eu-west-1",
		Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"}, Route: routes.Route{Name: "web-prod", Environment: "prod"},
		Image: result.Image{Repository: "web", Tag: "v1.2.3", Digest: "sha256:" + strings.Repeat("a", 64)}, StartedAt: t0,
		Preflight: &workflow.PreflightState{Warnings: []string{"alarm x was firing (warn)"}},
		Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Stage: "CLEAN_UP", Done: true, Strategy: "BLUE_GREEN",
			ServiceDeploymentARN: "arn:aws:ecs:eu-west-1:111122223333:service-deployment/prod/web/EZe5", Warnings: []string{"drift: …"},
			Stages: []result.Stage{{Name: "SCALE_UP", EnteredAt: t0, Seconds: 60}, {Name: "CLEAN_UP", EnteredAt: t0.Add(time.Minute)}}},
	}
	r := publish.Assemble(j, explain.Evidence{}, t0.Add(90*time.Second))
	if r.Outcome != result.RolledBack || r.DurationSeconds != 90 || r.Stages[1].Seconds != 30 || len(r.Warnings) != 2 || r.Reason == nil ||
		r.Links.ServiceDeployment != "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web/deployments/EZe5?region=eu-west-1" ||
		!strings.HasSuffix(r.Links.Execution, "executions/details/"+j.ExecutionARN) {
		t.Fatalf("Assemble = %+v", r)
	}
	attrs := publish.Attributes(r)
	if *attrs["outcome"].StringValue != "ROLLED_BACK" || *attrs["route"].StringValue != "web-prod" || *attrs["environment"].StringValue != "prod" || attrs["reasonKind"].StringValue == nil {
		t.Errorf("Attributes = %v", attrs)
	}
	none := publish.Attributes(result.Result{Outcome: result.Skipped})
	if _, ok := none["cluster"]; ok || len(none) != 1 {
		t.Errorf("empty attributes must be left out (SNS rejects them): %v", none)
	}
	if s := publish.Subject(r); s != "greenlight: prod/web ROLLED_BACK (web:v1.2.3)" {
		t.Errorf("Subject = %q", s)
	}
	long := r
	long.Service = strings.Repeat("é", 120)
	if s := publish.Subject(long); len(s) > 100 || strings.ContainsRune(s, 'é') {
		t.Errorf("Subject must be ASCII and at most 100 characters: %q", s)
	}
}

func TestAssembleFitsIn256KB(t *testing.T) {
	var checks []result.CheckEvidence
	for i := 0; i < 2000; i++ {
		checks = append(checks, result.CheckEvidence{Check: "c", BodyExcerpt: strings.Repeat("x", result.MaxBodyExcerpt)})
	}
	j := workflow.Job{ID: "e/p/w", Deployment: &workflow.DeploymentState{Status: "ROLLBACK_SUCCESSFUL", Done: true}}
	r := publish.Assemble(j, explain.Evidence{SmokeChecks: checks}, time.Now())
	b, _ := json.Marshal(r)
	if r.Reason == nil || len(b) > 256*1024 {
		t.Fatalf("result of %d bytes: oversized evidence was not trimmed", len(b))
	}
}

func TestStoppedGreen(t *testing.T) {
	green, blue := "arn:td:web:8", "arn:td:web:7"
	tasks := []ecstypes.Task{
		{TaskArn: aws.String("t1"), TaskDefinitionArn: aws.String(blue), StoppedReason: aws.String("scaled in")},
		{TaskArn: aws.String("t2"), TaskDefinitionArn: aws.String(green), StoppedReason: aws.String("Essential container in task exited"), StopCode: ecstypes.TaskStopCodeEssentialContainerExited,
			Containers: []ecstypes.Container{{Name: aws.String("app"), ExitCode: aws.Int32(137), Reason: aws.String("OutOfMemoryError")}}},
		{TaskArn: aws.String("t3"), TaskDefinitionArn: aws.String(green)},
	}
	got := publish.StoppedGreen(tasks, green, 1)
	if len(got) != 1 || got[0].TaskARN != "t2" || *got[0].Containers[0].ExitCode != 137 || got[0].StopCode != "EssentialContainerExited" {
		t.Fatalf("StoppedGreen = %+v", got)
	}
}
