package deploy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// TestReconcileRequestSharesTheDigestMarkerOnMoto: a reconcile request and the (late) real
// push event for the same digest deploy it to a service once, whichever comes first; a
// retried resolve of the reconcile execution is not a duplicate of itself; requests a person
// makes (cli) neither check nor take the marker.
func TestReconcileRequestSharesTheDigestMarkerOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(t)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/greenlight/routes"), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	r := &deploy.Resolver{Routes: routes.NewStore(ssm.NewFromConfig(cfg), "/greenlight/routes"), Ledger: newLedger(t)}
	started := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	resolve := func(exec string, in workflow.ExecutionInput) workflow.Plan {
		t.Helper()
		raw, _ := json.Marshal(in)
		p, err := r.Resolve(ctx, deploy.ResolveInput{Input: raw, ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:gl-deploy:" + exec, StartedAt: started})
		if err != nil {
			t.Fatalf("Resolve(%s): %v", exec, err)
		}
		return p
	}
	pushedAt := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	reconcile := func(digest string) workflow.ExecutionInput {
		return workflow.ExecutionInput{Request: &workflow.Request{
			Source: workflow.SourceReconcile, RequestedBy: "greenlight reconcile", Route: "web-prod", Cluster: "prod", Service: "web",
			Image:    result.Image{Repository: "web", Tag: "v1.2.3", Digest: digest},
			Note:     "found by reconciliation: the push event for v1.2.3 at 2026-11-20T10:00:00Z never arrived",
			PushedAt: pushedAt,
		}}
	}

	// 1. Reconciliation first: it deploys, and keeps the image's real push time.
	p := resolve("reconcile-prod-web-7f5b2640fe6f", reconcile(digestA))
	if len(p.Jobs) != 1 {
		t.Fatalf("reconcile request: %d jobs; want 1 (prod/web only)", len(p.Jobs))
	}
	j := p.Jobs[0]
	if j.Skip != nil || j.ID != "reconcile-prod-web-7f5b2640fe6f/prod/web" || j.Trigger.Source != "reconcile" ||
		!j.Trigger.PushedAt.Equal(pushedAt) || !strings.HasPrefix(j.Note, "found by reconciliation") {
		t.Fatalf("reconcile job = id %s skip %+v trigger %+v note %q; want a deployment with source reconcile, pushedAt %s and the note",
			j.ID, j.Skip, j.Trigger, j.Note, pushedAt)
	}
	// A retried resolve of the same execution claims again.
	if j := resolve("reconcile-prod-web-7f5b2640fe6f", reconcile(digestA)).Jobs[0]; j.Skip != nil {
		t.Fatalf("retried reconcile resolve skipped: %+v", j.Skip)
	}
	// The push event arrives late: prod/web is a DUPLICATE of the reconciliation; the route's
	// other services, which reconciliation did not take up, deploy.
	late := pushEvent()
	late.ID = "late-event"
	for _, j := range resolve("late", late).Jobs {
		switch j.Target.Key() {
		case "prod/web":
			if j.Skip == nil || j.Skip.Kind != result.KindDuplicate || !strings.Contains(j.Skip.Summary, "reconcile-prod-web-7f5b2640fe6f") {
				t.Errorf("late push, prod/web: skip = %+v; want DUPLICATE naming the reconcile execution", j.Skip)
			}
		default:
			if j.Skip != nil {
				t.Errorf("late push, %s: skipped %+v; reconciliation did not take it up", j.Target.Key(), j.Skip)
			}
		}
	}

	// 2. The push first: a reconcile request for that digest is the DUPLICATE.
	const digestB = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	push := pushEvent()
	push.Detail.ImageDigest, push.Detail.ImageTag, push.ID = digestB, "v1.2.4", "push-b"
	resolve("push-b", push)
	dup := resolve("reconcile-prod-web-111111111111", reconcile(digestB)).Jobs[0]
	if dup.Skip == nil || dup.Skip.Kind != result.KindDuplicate || !strings.Contains(dup.Skip.Summary, "push-b") {
		t.Fatalf("reconcile after the push: skip = %+v; want DUPLICATE naming execution push-b", dup.Skip)
	}

	// 3. A person's request is exempt: greenlight deploy of a digest seen before goes ahead.
	cli := reconcile(digestB)
	cli.Request.Source, cli.Request.Note, cli.Request.PushedAt = workflow.SourceCLI, "", time.Time{}
	cj := resolve("cli-prod-web-111111111111-20261120T103000", cli).Jobs[0]
	if cj.Skip != nil || !cj.Trigger.PushedAt.Equal(started) {
		t.Fatalf("cli request: skip %+v pushedAt %s; want a deployment whose pushedAt is the execution start", cj.Skip, cj.Trigger.PushedAt)
	}
}

func TestClaimsDigest(t *testing.T) {
	for source, want := range map[string]bool{
		"ecr-push": true, workflow.SourceReconcile: true,
		workflow.SourceCLI: false, workflow.SourceRollback: false, workflow.SourceRegressionRollback: false,
	} {
		if got := deploy.ClaimsDigest(source); got != want {
			t.Errorf("ClaimsDigest(%s) = %v; want %v", source, got, want)
		}
	}
}
