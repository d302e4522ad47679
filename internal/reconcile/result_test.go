package reconcile_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/explain"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/publish"
	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// TestResultSaysFoundByReconciliation follows a start decision through the normal path's
// pure steps: the execution input resolve reads, the job it makes, the result finalize
// assembles and the chat message notify composes. The result's trigger is "reconcile" and it
// carries the note; chat says "reconciliation by greenlight" and shows the note.
func TestResultSaysFoundByReconciliation(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	sum, err := g.r.Run(ctx)
	if err != nil || sum.Started == 0 {
		t.Fatalf("Run = %+v, %v", sum, err)
	}
	name := reconcile.ExecutionName(routes.Target{Cluster: "prod", Service: "web"}, digest(2))
	input := g.sfn.inputs[name]
	execARN, _ := reconcile.ExecutionARN(smARN, name)

	// resolve, with the ledger the reconciler claimed the marker in
	res := &deploy.Resolver{Routes: fakeRoutes{routes.MustParse([]byte(oneRoute))}, Ledger: g.lg, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)}
	plan, err := res.Resolve(ctx, deploy.ResolveInput{Input: json.RawMessage(input), ExecutionARN: execARN, StartedAt: now})
	if err != nil || len(plan.Jobs) != 1 {
		t.Fatalf("Resolve(%s) = %+v, %v", input, plan, err)
	}
	j := plan.Jobs[0]
	if j.Skip != nil {
		t.Fatalf("resolve skipped the reconcile job (the marker is the reconciler's own): %+v", j.Skip)
	}
	// ECS deployed it.
	j.Deployment = &workflow.DeploymentState{Status: "SUCCESSFUL", Done: true, Stage: "CLEAN_UP", TaskDefinitionARN: "td:2"}
	r := publish.Assemble(j, explain.Evidence{}, now.Add(10*time.Minute))
	if r.Outcome != result.Succeeded || r.Trigger.Source != "reconcile" || r.Trigger.RequestedBy != "greenlight" ||
		!r.Trigger.PushedAt.Equal(now.Add(-2*time.Hour)) || len(r.Warnings) == 0 || !strings.HasPrefix(r.Warnings[0], "found by reconciliation: the push event for v1.1.0") {
		t.Fatalf("result = outcome %s trigger %+v warnings %q; want SUCCEEDED, source reconcile, the image's push time and the note", r.Outcome, r.Trigger, r.Warnings)
	}
	m := notify.Compose(r)
	trig := ""
	for _, f := range m.Facts {
		if f.Name == "Trigger" {
			trig = f.Value
		}
	}
	if trig != "reconciliation by greenlight" || len(m.Warnings) == 0 || !strings.Contains(m.Warnings[0], "never arrived") {
		t.Errorf("chat message: trigger %q, warnings %q; want \"reconciliation by greenlight\" and the note", trig, m.Warnings)
	}

	// The push event arrives late: resolve makes it a DUPLICATE skip for prod/web.
	late := workflow.ExecutionInput{ID: "late", Source: "aws.ecr", DetailType: "ECR Image Action", Account: "111122223333", Region: "eu-west-1",
		Time: now.Add(-2 * time.Hour), Detail: &workflow.ECRPushDetail{ActionType: "PUSH", Result: "SUCCESS", RepositoryName: "web", ImageDigest: digest(2), ImageTag: "v1.1.0"}}
	raw, _ := json.Marshal(late)
	plan, err = res.Resolve(ctx, deploy.ResolveInput{Input: raw, ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:late", StartedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range plan.Jobs {
		if j.Target.Key() == "prod/web" && (j.Skip == nil || j.Skip.Kind != result.KindDuplicate) {
			t.Errorf("late push for prod/web: skip %+v; want DUPLICATE", j.Skip)
		}
	}
}
