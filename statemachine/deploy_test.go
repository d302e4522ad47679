// Package statemachine_test runs statemachine/deploy.asl.json in moto's Step Functions
// engine with the real Lambda bootstraps under aws-lambda-rie, moto for ECS, DynamoDB, SNS,
// SQS, SSM and EventBridge, and deployfake for the ECS service-deployment APIs moto lacks.
package statemachine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy/deployfake"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const (
	root     = ".."
	account  = localaws.DefaultAccount
	stack    = "greenlight"
	registry = account + ".dkr.ecr.us-east-1.amazonaws.com"
)

var functions = []string{"resolve", "lock", "start", "check", "finalize"}

const routesDoc = `{"version": 1, "routes": [
 {"name": "ok", "repository": "ok", "tagPattern": ".*", "environment": "test", "targets": [{"cluster": "sm", "service": "ok", "container": "app"}]},
 {"name": "rb", "repository": "rb", "tagPattern": ".*", "targets": [{"cluster": "sm", "service": "rb", "container": "app"}]},
 {"name": "boom", "repository": "boom", "tagPattern": ".*", "targets": [{"cluster": "sm", "service": "boom", "container": "app"}]}
]}`

// stackEnv is the local stack: moto, the fake, the functions, the state machine.
type stackEnv struct {
	moto   *localaws.Moto
	fake   *deployfake.Server
	sm     string
	queue  string
	table  *ledger.Table
	sfn    *sfn.Client
	sqs    *sqs.Client
	events *eventbridge.Client
	ecs    *ecs.Client

	mu      sync.Mutex
	results map[string]resultMessage
}

type resultMessage struct {
	Result     result.Result
	Attributes map[string]string
	Subject    string
}

func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

func setup(t *testing.T) *stackEnv {
	t.Helper()
	ctx := context.Background()
	m := awstest.Moto(t)
	cfg := awstest.DefaultAccountConfig(t)
	e := &stackEnv{moto: m, results: map[string]resultMessage{}, sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg),
		events: eventbridge.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg)}
	fake, err := deployfake.New(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e.fake = fake

	// Data: ledger, routes, result topic with an SQS subscription to read results back.
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput("sm-ledger")); err != nil {
		t.Fatal(err)
	}
	e.table = ledger.New(db, "sm-ledger")
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/sm/routes"), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("sm-results")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sm-results")})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = *q.QueueUrl
	qa, _ := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}

	// ECS: one BLUE_GREEN service per scenario.
	if _, err := e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("sm")}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"ok", "rb", "boom"} {
		td, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(svc), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(registry + "/" + svc + ":old"), Essential: aws.Bool(true)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("sm"), ServiceName: aws.String(svc), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			DesiredCount: aws.Int32(1), DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("sm"), Service: aws.String(svc),
			DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	fake.Script("sm", "rb", deployfake.HookRollback...)

	// The real bootstraps under aws-lambda-rie, created as Lambda functions in moto.
	rie, err := localaws.InstallRIE(ctx, filepath.Join(root, ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("sm-fn"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"AWS_ENDPOINT_URL=" + m.URL, "AWS_ENDPOINT_URL_ECS=" + fake.URL,
		"LEDGER_TABLE=sm-ledger", "ROUTES_PARAMETER=/sm/routes", "RESULT_TOPIC_ARN=" + *topic.TopicArn, "EVENT_BUS_NAME=default",
		"GREENLIGHT_TIME_SCALE=0.01", "GREENLIGHT_POLL_MIN_SECONDS=1", "GREENLIGHT_POLL_MAX_SECONDS=1",
	}
	buildDir := t.TempDir()
	arns := map[string]string{}
	lc := lambda.NewFromConfig(cfg)
	for _, fn := range functions {
		boot, err := localaws.BuildBootstrap(ctx, root, "./functions/"+fn, buildDir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: rie, Bootstrap: boot, Name: "gl-" + fn, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", fn, r.LogTail(40))
			}
			_ = r.Stop()
		})
		if err := m.RouteLambda("gl-"+fn, r.URL); err != nil {
			t.Fatal(err)
		}
		zipped, err := localaws.ZipBootstrap(boot)
		if err != nil {
			t.Fatal(err)
		}
		out, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("gl-" + fn), Role: role.Role.Arn,
			Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
			Code: &lambdatypes.FunctionCode{ZipFile: zipped}})
		if err != nil {
			t.Fatal(err)
		}
		arns[fn] = *out.FunctionArn
	}

	// The state machine and the rule, from template.yaml itself.
	tp, err := samtemplate.Load(ctx, filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{"ResultTopic": *topic.TopicArn, "LedgerTable": "sm-ledger", "RoutesParameter": "/sm/routes", "DeployStateMachine": ""}
	vals := samtemplate.Values{
		Parameters: map[string]any{"Repository": "ok", "RepositoryNames": "ok,rb,boom,nothing", "ClusterName": "sm", "ServiceName": "ok", "TaskRoleArns": "arn:aws:iam::123456789012:role/x"},
		Pseudo:     samtemplate.DefaultPseudo(account, localaws.Region, stack),
		Ref:        func(id string) (any, bool) { v, ok := refs[id]; return v, ok },
		GetAtt: func(id, attr string) (any, bool) {
			fn := strings.ToLower(strings.TrimSuffix(id, "Function"))
			if a, ok := arns[fn]; ok && attr == "Arn" {
				return a, true
			}
			if id == "WatchFunction" { // routes here have no alarms: the ASL never calls it
				return "arn:aws:lambda:us-east-1:123456789012:function:gl-watch-unused", true
			}
			return nil, false
		},
	}
	def, err := tp.StateMachineDefinition("DeployStateMachine", vals)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := e.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(stack + "-deploy"), Definition: aws.String(def), RoleArn: role.Role.Arn})
	if err != nil {
		t.Fatal(err)
	}
	e.sm = *sm.StateMachineArn
	pattern, err := tp.RulePattern("DeployStateMachineEcrPush", vals)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("sm-ecr-push"), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("sm-ecr-push"),
		Targets: []ebtypes.Target{{Id: aws.String("sm"), Arn: sm.StateMachineArn, RoleArn: role.Role.Arn}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func pushEvent(repo, tag string, d string, id string) map[string]any {
	return map[string]any{
		"version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr", "account": account,
		"time": time.Now().UTC().Format(time.RFC3339), "region": localaws.Region, "resources": []string{},
		"detail": map[string]any{"result": "SUCCESS", "repository-name": repo, "image-digest": d, "action-type": "PUSH", "image-tag": tag},
	}
}

// push sends the event through EventBridge (the rule starts the execution) and returns the
// new execution's ARN.
func (e *stackEnv) push(t *testing.T, ev map[string]any) string {
	t.Helper()
	ctx := context.Background()
	before := e.executions(t)
	detail, _ := json.Marshal(ev["detail"])
	out, err := e.events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.ecr"), DetailType: aws.String("ECR Image Action"), Detail: aws.String(string(detail)),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	want := ev["detail"].(map[string]any)
	for i := 0; i < 100; i++ {
		for arn := range e.executions(t) {
			if before[arn] {
				continue
			}
			d, err := e.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
			var in struct{ Detail map[string]any }
			if err == nil && json.Unmarshal([]byte(aws.ToString(d.Input)), &in) == nil &&
				in.Detail["image-digest"] == want["image-digest"] && in.Detail["image-tag"] == want["image-tag"] {
				return arn
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the ECR push rule started no execution")
	return ""
}

func (e *stackEnv) start(t *testing.T, input any) string {
	t.Helper()
	b, _ := json.Marshal(input)
	out, err := e.sfn.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(e.sm), Input: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ExecutionArn
}

var execMu sync.Mutex

func (e *stackEnv) executions(t *testing.T) map[string]bool {
	t.Helper()
	execMu.Lock()
	defer execMu.Unlock()
	out, err := e.sfn.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.sm)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, x := range out.Executions {
		m[*x.ExecutionArn] = true
	}
	return m
}

func (e *stackEnv) wait(t *testing.T, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		d, err := e.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("execution %s still running", arn)
	return nil
}

// result waits for the result with the given ID on the SQS subscription.
func (e *stackEnv) result(t *testing.T, id string) resultMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		r, ok := e.results[id]
		e.mu.Unlock()
		if ok {
			return r
		}
		out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			var env struct {
				Message           string
				Subject           string
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(*msg.Body), &env); err != nil {
				t.Fatalf("SQS body is not an SNS envelope: %s", *msg.Body)
			}
			var r result.Result
			if err := json.Unmarshal([]byte(env.Message), &r); err != nil {
				t.Fatalf("SNS message is not a result: %s", env.Message)
			}
			attrs := map[string]string{}
			for k, v := range env.MessageAttributes {
				attrs[k] = v.Value
			}
			e.mu.Lock()
			if _, dup := e.results[r.ID]; dup {
				e.mu.Unlock()
				t.Errorf("result %s published twice", r.ID)
				continue
			}
			e.results[r.ID] = resultMessage{Result: r, Attributes: attrs, Subject: env.Subject}
			e.mu.Unlock()
			_, _ = e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queue), ReceiptHandle: msg.ReceiptHandle})
		}
	}
	t.Fatalf("no result %s on the topic", id)
	return resultMessage{}
}

func execName(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

func (e *stackEnv) lockFree(t *testing.T, key string) {
	t.Helper()
	h, err := e.table.Lock(context.Background(), key)
	if err != nil || h != nil {
		t.Errorf("lock on %s after the execution = %+v, %v; want released", key, h, err)
	}
}

// polls counts the check invocations of an execution.
func (e *stackEnv) polls(t *testing.T, arn string) int {
	n := 0
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		out, err := e.sfn.GetExecutionHistory(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out.Events {
			if d := ev.StateEnteredEventDetails; d != nil && aws.ToString(d.Name) == "Check" {
				n++
			}
		}
		if out.NextToken == nil {
			return n
		}
		in.NextToken = out.NextToken
	}
}

// transitions counts the states an execution entered (what Step Functions bills).
func (e *stackEnv) transitions(t *testing.T, arn string) int {
	n := 0
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		out, err := e.sfn.GetExecutionHistory(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out.Events {
			if strings.HasSuffix(string(ev.Type), "StateEntered") {
				n++
			}
		}
		if out.NextToken == nil {
			return n
		}
		in.NextToken = out.NextToken
	}
}

func TestDeployStateMachine(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root, "functions", "resolve", "main.go")); err != nil {
		t.Fatal(err)
	}
	e := setup(t)
	began := time.Now()

	t.Run("group", func(t *testing.T) {
		t.Run("success", func(t *testing.T) {
			t.Parallel()
			arn := e.push(t, pushEvent("ok", "v1", digest(1), "ev-ok-1"))
			d := e.wait(t, arn)
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			rm := e.result(t, execName(arn)+"/sm/ok")
			r := rm.Result
			if r.Outcome != result.Succeeded || r.Reason != nil || r.Image.Digest != digest(1) || r.Image.URI != registry+"/ok@"+digest(1) ||
				r.ServiceDeploymentARN == "" || r.ECSStatus != "SUCCESSFUL" || len(r.Stages) != 6 || r.Stages[5].Name != "CLEAN_UP" ||
				r.Links.ServiceDeployment == "" || r.Trigger.EventID == "" || r.PreviousImage == nil || r.PreviousImage.Tag != "old" {
				t.Errorf("success result = %+v", r)
			}
			if rm.Attributes["outcome"] != "SUCCEEDED" || rm.Attributes["cluster"] != "sm" || rm.Attributes["service"] != "ok" || rm.Attributes["route"] != "ok" {
				t.Errorf("SNS attributes = %v", rm.Attributes)
			}
			e.lockFree(t, "sm/ok")
			if hist, _ := e.table.History(context.Background(), "sm/ok", 5); len(hist) != 1 || hist[0].Outcome != result.Succeeded {
				t.Errorf("ledger history = %+v", hist)
			}
			t.Logf("success: %d state transitions, %d polls", e.transitions(t, arn), e.polls(t, arn))

			// The same digest under a second tag: no second deployment.
			n := len(e.fake.Deployments())
			dup := e.push(t, pushEvent("ok", "latest", digest(1), "ev-ok-2"))
			if d := e.wait(t, dup); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("duplicate execution %s", d.Status)
			}
			r = e.result(t, execName(dup)+"/sm/ok").Result
			if r.Outcome != result.Skipped || r.Reason == nil || r.Reason.Kind != result.KindDuplicate || !strings.Contains(r.Reason.Summary, "as tag v1") {
				t.Errorf("duplicate result = %+v", r)
			}
			if got := len(e.fake.Deployments()); got != n {
				t.Errorf("a duplicate push started a deployment (%d → %d)", n, got)
			}
			e.lockFree(t, "sm/ok")
		})
		t.Run("no route", func(t *testing.T) {
			t.Parallel()
			arn := e.push(t, pushEvent("nothing", "v1", digest(2), "ev-none"))
			if d := e.wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s", d.Status)
			}
			rm := e.result(t, execName(arn)+"/no-route")
			if r := rm.Result; r.Outcome != result.Skipped || r.Reason.Kind != result.KindNoRoute || !strings.Contains(r.Reason.Summary, "repository nothing") {
				t.Errorf("no-route result = %+v", r)
			}
			if rm.Attributes["outcome"] != "SKIPPED" || rm.Attributes["reasonKind"] != "NO_ROUTE" {
				t.Errorf("no-route attributes %v", rm.Attributes)
			}
		})
		t.Run("ECS rollback", func(t *testing.T) {
			t.Parallel()
			arn := e.start(t, pushEvent("rb", "v2", digest(3), "ev-rb"))
			if d := e.wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s", d.Status)
			}
			r := e.result(t, execName(arn)+"/sm/rb").Result
			if r.Outcome != result.RolledBack || r.Reason == nil || r.Reason.Kind != result.KindHookFailed || r.ECSStatus != "ROLLBACK_SUCCESSFUL" ||
				!strings.Contains(r.Reason.Summary, "smoke") || r.Reason.Evidence == nil || r.Reason.Evidence.ECSRollbackReason == "" {
				t.Errorf("rollback result = %+v (reason %+v)", r, r.Reason)
			}
			e.lockFree(t, "sm/rb")
		})
		t.Run("a Lambda fails", func(t *testing.T) {
			t.Parallel()
			e.fake.FailService("UpdateService", "boom", "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/start is not authorized to perform: ecs:UpdateService", 100)
			arn := e.start(t, pushEvent("boom", "v3", digest(4), "ev-boom"))
			if d := e.wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s", d.Status, aws.ToString(d.Cause))
			}
			r := e.result(t, execName(arn)+"/sm/boom").Result
			if r.Outcome != result.Failed || r.Reason == nil || r.Reason.Kind != result.KindError || r.Reason.Evidence.Error.Step != "Start" ||
				!strings.Contains(r.Reason.Summary, "not authorized to perform: ecs:UpdateService") {
				t.Errorf("failure result = %+v (reason %+v)", r, r.Reason)
			}
			e.lockFree(t, "sm/boom")
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
				arn := e.start(t, tc.input)
				// The execution fails on purpose (the input was bad), after publishing the result.
				if d := e.wait(t, arn); d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != "greenlight.ResolveFailed" {
					t.Fatalf("%s: execution %s: %s %s", tc.name, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
				}
				rm := e.result(t, execName(arn)+"/resolve")
				if r := rm.Result; r.Outcome != result.Failed || r.Reason == nil || r.Reason.Evidence == nil || r.Reason.Evidence.Error == nil ||
					r.Reason.Evidence.Error.Name != "greenlight.Input" || r.Trigger.Source != tc.source {
					t.Errorf("%s: result = %+v (reason %+v)", tc.name, r, r.Reason)
				}
			}
		})
	})
	t.Logf("state machine scenarios ran in %s", time.Since(began).Round(time.Second))
}
