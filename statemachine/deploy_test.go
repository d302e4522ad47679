// Package statemachine_test runs statemachine/deploy.asl.json in moto's Step Functions
// engine with the real Lambda bootstraps under aws-lambda-rie, moto for ECS, DynamoDB, SNS,
// SQS, SSM and EventBridge, and deployfake for the ECS service-deployment APIs moto lacks;
// internal/stacktest builds that stack.
package statemachine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy/deployfake"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/stacktest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const root = ".."

var functions = []string{"resolve", "lock", "start", "check", "finalize"}

const routesDoc = `{"version": 1, "routes": [
 {"name": "ok", "repository": "ok", "tagPattern": ".*", "environment": "test", "targets": [{"cluster": "sm", "service": "ok", "container": "app"}]},
 {"name": "rb", "repository": "rb", "tagPattern": ".*", "targets": [{"cluster": "sm", "service": "rb", "container": "app"}]},
 {"name": "boom", "repository": "boom", "tagPattern": ".*", "targets": [{"cluster": "sm", "service": "boom", "container": "app"}]}
]}`

func TestDeployStateMachine(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root, "functions", "resolve", "main.go")); err != nil {
		t.Fatal(err)
	}
	e := stacktest.New(t, stacktest.Options{
		Name: "sm", Functions: functions, Routes: routesDoc,
		// One BLUE_GREEN service per scenario; rb's hook fails and ECS rolls back.
		Services: []string{"ok", "rb", "boom"},
		Scripts:  map[string][]deployfake.Step{"rb": deployfake.HookRollback},
		// The routes here have no alarms: the state machine never calls watch.
		Parameters: map[string]any{"Repository": "ok", "RepositoryNames": "ok,rb,boom,nothing", "ClusterName": "sm", "ServiceName": "ok", "TaskRoleArns": "arn:aws:iam::123456789012:role/x"},
	})
	began := time.Now()

	t.Run("group", func(t *testing.T) {
		t.Run("success", func(t *testing.T) {
			t.Parallel()
			arn := e.Push(t, stacktest.PushEvent("ok", "v1", stacktest.Digest(1), "ev-ok-1"))
			d := e.Wait(t, arn)
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			rm := e.Result(t, stacktest.ExecName(arn)+"/sm/ok", 30*time.Second)
			r := rm.Result
			if r.Outcome != result.Succeeded || r.Reason != nil || r.Image.Digest != stacktest.Digest(1) || r.Image.URI != stacktest.Registry+"/ok@"+stacktest.Digest(1) ||
				r.ServiceDeploymentARN == "" || r.ECSStatus != "SUCCESSFUL" || len(r.Stages) != 6 || r.Stages[5].Name != "CLEAN_UP" ||
				r.Links.ServiceDeployment == "" || r.Trigger.EventID == "" || r.PreviousImage == nil || r.PreviousImage.Tag != "old" {
				t.Errorf("success result = %+v", r)
			}
			if rm.Attributes["outcome"] != "SUCCEEDED" || rm.Attributes["cluster"] != "sm" || rm.Attributes["service"] != "ok" || rm.Attributes["route"] != "ok" {
				t.Errorf("SNS attributes = %v", rm.Attributes)
			}
			e.LockFree(t, "sm/ok")
			if hist, _ := e.Table.History(context.Background(), "sm/ok", 5); len(hist) != 1 || hist[0].Outcome != result.Succeeded {
				t.Errorf("ledger history = %+v", hist)
			}
			t.Logf("success: %d state transitions, %d polls", e.Transitions(t, arn), e.Entered(t, arn, "Check"))

			// The same digest under a second tag: no second deployment.
			n := len(e.Fake.Deployments())
			dup := e.Push(t, stacktest.PushEvent("ok", "latest", stacktest.Digest(1), "ev-ok-2"))
			if d := e.Wait(t, dup); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("duplicate execution %s", d.Status)
			}
			r = e.Result(t, stacktest.ExecName(dup)+"/sm/ok", 30*time.Second).Result
			if r.Outcome != result.Skipped || r.Reason == nil || r.Reason.Kind != result.KindDuplicate || !strings.Contains(r.Reason.Summary, "as tag v1") {
				t.Errorf("duplicate result = %+v", r)
			}
			if got := len(e.Fake.Deployments()); got != n {
				t.Errorf("a duplicate push started a deployment (%d → %d)", n, got)
			}
			e.LockFree(t, "sm/ok")
		})
		t.Run("no route", func(t *testing.T) {
			t.Parallel()
			arn := e.Push(t, stacktest.PushEvent("nothing", "v1", stacktest.Digest(2), "ev-none"))
			if d := e.Wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s", d.Status)
			}
			rm := e.Result(t, stacktest.ExecName(arn)+"/no-route", 30*time.Second)
			if r := rm.Result; r.Outcome != result.Skipped || r.Reason.Kind != result.KindNoRoute || !strings.Contains(r.Reason.Summary, "repository nothing") {
				t.Errorf("no-route result = %+v", r)
			}
			if rm.Attributes["outcome"] != "SKIPPED" || rm.Attributes["reasonKind"] != "NO_ROUTE" {
				t.Errorf("no-route attributes %v", rm.Attributes)
			}
		})
		t.Run("ECS rollback", func(t *testing.T) {
			t.Parallel()
			arn := e.Start(t, stacktest.PushEvent("rb", "v2", stacktest.Digest(3), "ev-rb"))
			if d := e.Wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s", d.Status)
			}
			r := e.Result(t, stacktest.ExecName(arn)+"/sm/rb", 30*time.Second).Result
			if r.Outcome != result.RolledBack || r.Reason == nil || r.Reason.Kind != result.KindHookFailed || r.ECSStatus != "ROLLBACK_SUCCESSFUL" ||
				!strings.Contains(r.Reason.Summary, "smoke") || r.Reason.Evidence == nil || r.Reason.Evidence.ECSRollbackReason == "" {
				t.Errorf("rollback result = %+v (reason %+v)", r, r.Reason)
			}
			e.LockFree(t, "sm/rb")
		})
		t.Run("a Lambda fails", func(t *testing.T) {
			t.Parallel()
			e.Fake.FailService("UpdateService", "boom", "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/start is not authorized to perform: ecs:UpdateService", 100)
			arn := e.Start(t, stacktest.PushEvent("boom", "v3", stacktest.Digest(4), "ev-boom"))
			if d := e.Wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s", d.Status, aws.ToString(d.Cause))
			}
			r := e.Result(t, stacktest.ExecName(arn)+"/sm/boom", 30*time.Second).Result
			if r.Outcome != result.Failed || r.Reason == nil || r.Reason.Kind != result.KindError || r.Reason.Evidence.Error.Step != "Start" ||
				!strings.Contains(r.Reason.Summary, "not authorized to perform: ecs:UpdateService") {
				t.Errorf("failure result = %+v (reason %+v)", r, r.Reason)
			}
			e.LockFree(t, "sm/boom")
		})
		t.Run("input resolve refuses", func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name   string
				input  any
				source string
			}{
				{"bad request", map[string]any{"request": map[string]any{"source": "cli", "image": map[string]any{"repository": "ok"}}}, "cli"},
				{"bad push", map[string]any{"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": map[string]any{"action-type": "PUSH", "result": "SUCCESS", "repository-name": "ok", "image-tag": "v9", "image-digest": "sha256:nope"}}, "ecr-push"},
			} {
				arn := e.Start(t, tc.input)
				// The execution fails on purpose (the input was bad), after publishing the result.
				if d := e.Wait(t, arn); d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != "greenlight.ResolveFailed" {
					t.Fatalf("%s: execution %s: %s %s", tc.name, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
				}
				rm := e.Result(t, stacktest.ExecName(arn)+"/resolve", 30*time.Second)
				if r := rm.Result; r.Outcome != result.Failed || r.Reason == nil || r.Reason.Evidence == nil || r.Reason.Evidence.Error == nil ||
					r.Reason.Evidence.Error.Name != "greenlight.Input" || r.Trigger.Source != tc.source {
					t.Errorf("%s: result = %+v (reason %+v)", tc.name, r, r.Reason)
				}
			}
		})
	})
	t.Logf("state machine scenarios ran in %s", time.Since(began).Round(time.Second))
}
