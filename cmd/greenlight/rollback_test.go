package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestRollbackDuringDeployment(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	e.ecs = newFakeECS()
	e.ecs.deployments = []ecstypes.ServiceDeployment{
		blueGreen("old1", ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp, t0.Add(-time.Hour), 100),
		blueGreen("dep2", ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStageBakeTime, t0.Add(-4*time.Minute), 100),
	}
	// declined: nothing is stopped
	e.stdin = "n\n"
	_, errs := e.mustRun(1, "rollback", "--service", "prod/web")
	if len(e.ecs.stops) != 0 || !strings.Contains(errs, "Roll back prod/web deployment dep2 (IN_PROGRESS, stage BAKE_TIME)?") {
		t.Fatalf("declined: stops %v, stderr %s", e.ecs.stops, errs)
	}
	// --to makes no sense while deploying
	_, errs = e.mustRun(2, "rollback", "--service", "prod/web", "--to", digestOf(1))
	if !strings.Contains(errs, "--to applies after a deployment") {
		t.Errorf("--to during a deployment: %s", errs)
	}
	// confirmed
	e.stdin = "y\n"
	out, _ := e.mustRun(0, "rollback", "--service", "prod/web")
	golden(t, "rollback-stop", out)
	if len(e.ecs.stops) != 1 || aws.ToString(e.ecs.stops[0].ServiceDeploymentArn) != sdepPrefix+"dep2" || e.ecs.stops[0].StopType != ecstypes.StopServiceDeploymentStopTypeRollback {
		t.Fatalf("StopServiceDeployment calls: %+v", e.ecs.stops)
	}
	// the ledger records who asked (the deploy core's stop marker)
	item, err := dynamodb.NewFromConfig(e.cfg).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(ledgerTable),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "SDEP#" + sdepPrefix + "dep2"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "STOP"}}})
	if err != nil || !strings.HasPrefix(item.Item["by"].(*ddbtypes.AttributeValueMemberS).Value, "cli:arn:aws:sts::") {
		t.Errorf("stop marker: %v %v", item.Item, err)
	}

	// a second rollback while ECS rolls back: nothing to do; --wait follows it to the end
	e.ecs.afterStop = ecstypes.ServiceDeploymentStatusRollbackInProgress
	e.ecs.deployments[1].Status = ecstypes.ServiceDeploymentStatusRollbackInProgress
	e.onSleep = func() {
		e.ecs.set(1, func(d *ecstypes.ServiceDeployment) { d.Status = ecstypes.ServiceDeploymentStatusRollbackSuccessful })
	}
	out, _ = e.mustRun(0, "rollback", "--service", "prod/web", "--yes", "--wait", "-o", "json")
	v := checkSchema(t, "rollback", out)
	if v["action"] != "none" || v["ecsStatus"] != "ROLLBACK_SUCCESSFUL" {
		t.Errorf("rollback while rolling back: %v", v)
	}
	// --wait that ends ROLLBACK_FAILED exits 1
	e.ecs.deployments[1].Status = ecstypes.ServiceDeploymentStatusInProgress
	e.ecs.afterStop = ecstypes.ServiceDeploymentStatusRollbackInProgress
	e.onSleep = func() {
		e.ecs.set(1, func(d *ecstypes.ServiceDeployment) { d.Status = ecstypes.ServiceDeploymentStatusRollbackFailed })
	}
	e.mustRun(1, "rollback", "--service", "prod/web", "--yes", "--wait")
}

func TestRollbackRedeploysLastGood(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	e.ecs = newFakeECS()
	e.ecs.deployments = []ecstypes.ServiceDeployment{blueGreen("dep1", ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp, t0.Add(-time.Hour), 100)}
	sm := e.stateMachine()
	good := e.pushImage("web", "v1.2.2", manifestV122)
	cur := e.pushImage("web", "v1.2.3", manifestV123)

	// nothing good before the current image yet
	e.putResult(record("exec-c/prod/web", result.Succeeded, "v1.2.3", cur, t0.Add(-time.Hour), 400))
	_, errs := e.mustRun(4, "rollback", "--service", "prod/web", "--yes")
	if !strings.Contains(errs, "no earlier good deployment in the ledger") {
		t.Errorf("no last good: %s", errs)
	}

	e.putResult(record("exec-a/prod/web", result.Succeeded, "v1.2.2", good, t0.Add(-3*time.Hour), 410))
	e.putResult(record("exec-b/prod/web", result.RolledBack, "v1.2.4", digestOf(4), t0.Add(-2*time.Hour), 90))

	// a lock held by a running execution that has not reached ECS yet
	if ok, _, err := e.ledger().TryLock(context.Background(), "prod/web", ledger.Holder{JobID: "exec-d/prod/web", Execution: "arn:aws:states:us-east-1:1:execution:m:exec-d",
		Image: result.Image{Repository: "web", Tag: "v1.2.5"}, AcquiredAt: t0, LeaseUntil: t0.Add(10 * time.Minute)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, errs = e.mustRun(1, "rollback", "--service", "prod/web", "--yes")
	if !strings.Contains(errs, "ECS has not started the service deployment yet") {
		t.Errorf("lock held: %s", errs)
	}
	_ = e.ledger().ReleaseLock(context.Background(), "prod/web", "exec-d/prod/web")

	e.stdin = "n\n"
	e.mustRun(1, "rollback", "--service", "prod/web")
	out, _ := e.mustRun(0, "rollback", "--service", "prod/web", "--yes")
	golden(t, "rollback-redeploy", out)
	name := "rollback-prod-web-" + good[7:19] + "-20261120T100000"
	in := e.executionInput(strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":" + name)
	req := in["request"].(map[string]any)
	if req["source"] != "rollback" || req["image"].(map[string]any)["digest"] != good ||
		req["note"] != "rollback from web:v1.2.3@"+cur[7:19]+" to web:v1.2.2@"+good[7:19]+" (last good deployment exec-a/prod/web)" {
		t.Errorf("rollback execution input: %v", in)
	}

	// --to a result ID, JSON, dry run
	out, _ = e.mustRun(0, "rollback", "--service", "prod/web", "--to", "exec-a/prod/web", "--dry-run", "-o", "json")
	if v := checkSchema(t, "rollback", out); v["action"] != "redeploy" || v["basis"] != "result exec-a/prod/web (SUCCEEDED)" {
		t.Errorf("--to id: %v", v)
	}
	_, errs = e.mustRun(4, "rollback", "--service", "prod/web", "--to", "exec-zzz/prod/web", "--yes")
	if !strings.Contains(errs, `no deployment with ID "exec-zzz/prod/web"`) {
		t.Errorf("unknown id: %s", errs)
	}
	// --to a digest that ECR no longer has
	_, errs = e.mustRun(4, "rollback", "--service", "prod/web", "--to", digestOf(4), "--yes")
	if !strings.Contains(errs, "web has no image with digest "+digestOf(4)) {
		t.Errorf("deleted image: %s", errs)
	}
	// --to the current image
	_, errs = e.mustRun(1, "rollback", "--service", "prod/web", "--to", cur, "--yes")
	if !strings.Contains(errs, "prod/web already runs web:v1.2.3@"+cur[7:19]) {
		t.Errorf("current image: %s", errs)
	}
}
