package sfntest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
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

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy/deployfake"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const (
	root     = "../../.."
	account  = localaws.DefaultAccount
	registry = account + ".dkr.ecr.us-east-1.amazonaws.com"
	smName   = "greenlight-deploy" // template.yaml names it ${AWS::StackName}-deploy; the stack here is "greenlight"
	cluster  = "aw"
)

var functions = []string{"resolve", "lock", "start", "check", "watch", "finalize"}

// Two routes: web rolls back when its alarms fire mid-deployment; api regresses after a
// success and is redeployed to its last good revision.
const routesDoc = `{"version": 1, "routes": [
 {"name": "web", "repository": "web", "tagPattern": ".*", "targets": [{"cluster": "aw", "service": "web", "container": "app"}],
  "alarms": {"names": ["web-5xx-rate", "web-5xx-count"]}},
 {"name": "api", "repository": "api", "tagPattern": ".*", "targets": [{"cluster": "aw", "service": "api", "container": "app"}],
  "alarms": {"names": ["api-5xx-count"], "postDeployWatchMinutes": 15, "rollbackOnRegression": true}}
]}`

func digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

type stack struct {
	moto  *localaws.Moto
	fake  *deployfake.Server
	sm    string
	queue string
	table *ledger.Table
	sfn   *sfn.Client
	sqs   *sqs.Client
	cw    *cloudwatch.Client

	mu      sync.Mutex
	results map[string]result.Result
}

var albDims = []cwtypes.Dimension{
	{Name: aws.String("LoadBalancer"), Value: aws.String("app/aw/0123456789abcdef")},
	{Name: aws.String("TargetGroup"), Value: aws.String("targetgroup/web-a/0123456789abcdef")},
}

func setup(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	m := awstest.Moto(t)
	cfg := awstest.DefaultAccountConfig(t)
	cw, err := awsenv.CloudWatch(cfg, func(k string) string {
		if k == awsenv.CloudWatchProtocolEnv {
			return "query"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{moto: m, sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), cw: cw, results: map[string]result.Result{}}
	fake, err := deployfake.New(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	s.fake = fake

	// Ledger, routes, result topic read back through SQS.
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput("aw-ledger")); err != nil {
		t.Fatal(err)
	}
	s.table = ledger.New(db, "aw-ledger")
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/aw/routes"), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("aw-results")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("aw-results")})
	if err != nil {
		t.Fatal(err)
	}
	s.queue = *q.QueueUrl
	qa, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}

	// CloudWatch: the recommended 5xx-rate metric-math alarm, and plain count alarms.
	putRateAlarm(t, cw, "web-5xx-rate")
	putCountAlarm(t, cw, "web-5xx-count")
	putCountAlarm(t, cw, "api-5xx-count")

	// ECS: one BLUE_GREEN service per route, in moto.
	ecsc := ecs.NewFromConfig(cfg)
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "api"} {
		td, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(svc), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(registry + "/" + svc + ":old"), Essential: aws.Bool(true)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(svc), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			DesiredCount: aws.Int32(1), DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(svc),
			DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1)}}); err != nil {
			t.Fatal(err)
		}
	}

	// The real bootstraps under aws-lambda-rie, as Lambda functions in moto.
	rie, err := localaws.InstallRIE(ctx, filepath.Join(root, ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("aw-fn"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"AWS_ENDPOINT_URL=" + m.URL, "AWS_ENDPOINT_URL_ECS=" + fake.URL,
		"LEDGER_TABLE=aw-ledger", "ROUTES_PARAMETER=/aw/routes", "RESULT_TOPIC_ARN=" + *topic.TopicArn, "EVENT_BUS_NAME=default",
		"GREENLIGHT_TIME_SCALE=0.01", "GREENLIGHT_POLL_MIN_SECONDS=1", "GREENLIGHT_POLL_MAX_SECONDS=1",
		"GREENLIGHT_CLOUDWATCH_PROTOCOL=query",
	}
	buildDir := t.TempDir()
	arns := map[string]string{}
	lc := lambda.NewFromConfig(cfg)
	for _, fn := range functions {
		boot, err := localaws.BuildBootstrap(ctx, root, "./functions/"+fn, buildDir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: rie, Bootstrap: boot, Name: "aw-" + fn, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", fn, r.LogTail(40))
			}
			_ = r.Stop()
		})
		if err := m.RouteLambda("aw-"+fn, r.URL); err != nil {
			t.Fatal(err)
		}
		zipped, err := localaws.ZipBootstrap(boot)
		if err != nil {
			t.Fatal(err)
		}
		out, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("aw-" + fn), Role: role.Role.Arn,
			Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
			Code: &lambdatypes.FunctionCode{ZipFile: zipped}})
		if err != nil {
			t.Fatal(err)
		}
		arns[fn] = *out.FunctionArn
	}

	// The state machine from template.yaml; its own ARN for the regression rollback.
	tp, err := samtemplate.Load(ctx, filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	smARN := fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", localaws.Region, account, smName)
	refs := map[string]string{"ResultTopic": *topic.TopicArn, "LedgerTable": "aw-ledger", "RoutesParameter": "/aw/routes", "DeployStateMachine": smARN}
	vals := samtemplate.Values{
		Parameters: map[string]any{"Repository": "web", "RepositoryNames": "web,api", "ClusterName": cluster, "ServiceName": "web", "TaskRoleArns": "arn:aws:iam::123456789012:role/x"},
		Pseudo:     samtemplate.DefaultPseudo(account, localaws.Region, "greenlight"),
		Ref:        func(id string) (any, bool) { v, ok := refs[id]; return v, ok },
		GetAtt: func(id, attr string) (any, bool) {
			if a, ok := arns[strings.ToLower(strings.TrimSuffix(id, "Function"))]; ok && attr == "Arn" {
				return a, true
			}
			return nil, false
		},
	}
	def, err := tp.StateMachineDefinition("DeployStateMachine", vals)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := s.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(smName), Definition: aws.String(def), RoleArn: role.Role.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if *sm.StateMachineArn != smARN {
		t.Fatalf("state machine ARN %s, want %s (the rollback start uses it)", *sm.StateMachineArn, smARN)
	}
	s.sm = smARN
	return s
}

func putCountAlarm(t *testing.T, cw *cloudwatch.Client, name string) {
	t.Helper()
	if _, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Dimensions: albDims, Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2),
		Threshold: aws.Float64(10), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
	}); err != nil {
		t.Fatal(err)
	}
}

func putRateAlarm(t *testing.T, cw *cloudwatch.Client, name string) {
	t.Helper()
	stat := func(id, metric, tg string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{
			Period: aws.Int32(60), Stat: aws.String("Sum"), Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric),
				Dimensions: []cwtypes.Dimension{albDims[0], {Name: aws.String("TargetGroup"), Value: aws.String(tg)}}}}}
	}
	if _, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2), Threshold: aws.Float64(5),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		Metrics: []cwtypes.MetricDataQuery{
			stat("e1", "HTTPCode_Target_5XX_Count", "targetgroup/web-a/0123456789abcdef"),
			stat("e2", "HTTPCode_Target_5XX_Count", "targetgroup/web-b/fedcba9876543210"),
			stat("r1", "RequestCount", "targetgroup/web-a/0123456789abcdef"),
			stat("r2", "RequestCount", "targetgroup/web-b/fedcba9876543210"),
			{Id: aws.String("err"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(e1,0) + FILL(e2,0)")},
			{Id: aws.String("req"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(r1,0) + FILL(r2,0)")},
			{Id: aws.String("rate"), ReturnData: aws.Bool(true), Label: aws.String("5xx rate %"), Expression: aws.String("IF(req > 0, 100 * err / req, 0)")},
		},
	}); err != nil {
		t.Fatal(err)
	}
}

// fire puts 5xx datapoints (per-minute sums 3, 15, 30 over the last minutes) and sets the
// alarm to ALARM, as CloudWatch would after evaluating them; moto never evaluates alarms.
func (s *stack) fire(t *testing.T, name, reason string, withData bool) {
	ctx := context.Background()
	if withData {
		base := time.Now().UTC().Truncate(time.Minute)
		for i, v := range []float64{3, 15, 30} {
			if _, err := s.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: []cwtypes.MetricDatum{{
				MetricName: aws.String("HTTPCode_Target_5XX_Count"), Dimensions: albDims, Value: aws.Float64(v), Unit: cwtypes.StandardUnitCount,
				Timestamp: aws.Time(base.Add(time.Duration(i-4)*time.Minute + 10*time.Second)),
			}}}); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := s.cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String(reason)}); err != nil {
		t.Error(err)
	}
}

const rateReason = "Threshold Crossed: 2 out of the last 3 datapoints [51.2 (20/11/26 10:04:00), 48.0 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition)."
const countReason = "Threshold Crossed: 2 out of the last 3 datapoints [30.0 (20/11/26 10:04:00), 15.0 (20/11/26 10:03:00)] were greater than the threshold (10.0) (minimum 2 datapoints for OK -> ALARM transition)."

func pushEvent(repo, tag, d, id string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr", "account": account,
		"time": time.Now().UTC().Format(time.RFC3339), "region": localaws.Region, "resources": []string{},
		"detail": map[string]any{"result": "SUCCESS", "repository-name": repo, "image-digest": d, "action-type": "PUSH", "image-tag": tag},
	})
	return string(b)
}

func (s *stack) start(t *testing.T, input string) string {
	t.Helper()
	out, err := s.sfn.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(s.sm), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ExecutionArn
}

func (s *stack) wait(t *testing.T, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		d, err := s.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
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

func (s *stack) executions(t *testing.T) []sfntypes.ExecutionListItem {
	t.Helper()
	out, err := s.sfn.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.sm)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Executions
}

// result waits for the result with the given ID on the topic's SQS subscription.
func (s *stack) result(t *testing.T, id string, within time.Duration) result.Result {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		r, ok := s.results[id]
		s.mu.Unlock()
		if ok {
			return r
		}
		out, err := s.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			var env struct{ Message string }
			if err := json.Unmarshal([]byte(*msg.Body), &env); err != nil {
				t.Fatalf("SQS body is not an SNS envelope: %s", *msg.Body)
			}
			var r result.Result
			if err := json.Unmarshal([]byte(env.Message), &r); err != nil {
				t.Fatalf("SNS message is not a result: %s", env.Message)
			}
			s.mu.Lock()
			if _, dup := s.results[r.ID]; dup {
				t.Errorf("result %s published twice", r.ID)
			}
			s.results[r.ID] = r
			s.mu.Unlock()
			_, _ = s.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queue), ReceiptHandle: msg.ReceiptHandle})
		}
	}
	t.Fatalf("no result %s on the topic within %s", id, within)
	return result.Result{}
}

// scheduled returns the parameters of the first task scheduled on resource in an
// execution, or nil.
func (s *stack) scheduled(t *testing.T, arn, resource string) *string {
	t.Helper()
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		out, err := s.sfn.GetExecutionHistory(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out.Events {
			if d := ev.TaskScheduledEventDetails; d != nil && aws.ToString(d.Resource) == resource {
				return d.Parameters
			}
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// rollbackError is the last task error the execution recorded (its startExecution task).
func (s *stack) rollbackError(t *testing.T, arn string) string {
	t.Helper()
	out, err := s.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		return err.Error()
	}
	msg := "no TaskFailed event"
	for _, ev := range out.Events {
		if d := ev.TaskFailedEventDetails; d != nil {
			msg = aws.ToString(d.Error) + ": " + aws.ToString(d.Cause) // the last one: startExecution comes last
		}
	}
	return msg
}

// history renders the last n events of an execution, for failure messages.
func (s *stack) history(t *testing.T, arn string, n int) string {
	t.Helper()
	var evs []sfntypes.HistoryEvent
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		out, err := s.sfn.GetExecutionHistory(context.Background(), in)
		if err != nil {
			return err.Error()
		}
		evs = append(evs, out.Events...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	var b strings.Builder
	for _, ev := range evs {
		detail, _ := json.Marshal(struct {
			A, B, C, D, E any
		}{ev.StateEnteredEventDetails, ev.TaskFailedEventDetails, ev.TaskSubmitFailedEventDetails, ev.ExecutionFailedEventDetails, ev.TaskScheduledEventDetails})
		fmt.Fprintf(&b, "%s %s\n", ev.Type, detail)
	}
	return b.String()
}

func execName(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

// atStage returns once the fake has reported the service's deployment at stage.
func (s *stack) atStage(t *testing.T, service, stage string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range s.fake.Deployments() {
			if d.Service == service && d.Index >= 0 && d.Index < len(d.Steps) && d.Steps[d.Index].Stage == stage {
				return d.ARN
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s", service, stage)
	return ""
}

func bake(n int) []deployfake.Step {
	steps := []deployfake.Step{
		{Status: "IN_PROGRESS", Stage: "PRE_SCALE_UP"},
		{Status: "IN_PROGRESS", Stage: "SCALE_UP"},
		{Status: "IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT", Hooks: []deployfake.Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "SUCCEEDED"}}},
		{Status: "IN_PROGRESS", Stage: "PRODUCTION_TRAFFIC_SHIFT"},
	}
	for i := 0; i < n; i++ {
		steps = append(steps, deployfake.Step{Status: "IN_PROGRESS", Stage: "BAKE_TIME"})
	}
	return append(steps, deployfake.Step{Status: "SUCCESSFUL", Stage: "CLEAN_UP", StatusReason: "Service deployment completed"})
}

// TestAlarmStateMachine runs whole deployments through the state machine:
//   - web: its route alarms fire during BAKE_TIME (the service has no ECS deployment alarm
//     that would roll back: the fake never rolls back on its own); greenlight asks ECS to
//     roll back once, and the result is ROLLED_BACK with the alarm evidence;
//   - api: succeeds, then its alarm fires in the post-deploy window: a REGRESSED follow-up is
//     published and the last good revision is redeployed by a new execution.
func TestAlarmStateMachine(t *testing.T) {
	s := setup(t)
	began := time.Now()

	t.Run("group", func(t *testing.T) {
		t.Run("alarm fires mid-deployment", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s.fake.Script(cluster, "web", bake(40)...)
			arn := s.start(t, pushEvent("web", "v2", digest(2), "ev-web-2"))

			sdARN := s.atStage(t, "web", "BAKE_TIME")
			s.fire(t, "web-5xx-rate", rateReason, false)
			s.fire(t, "web-5xx-count", countReason, true)

			d := s.wait(t, arn)
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			r := s.result(t, execName(arn)+"/aw/web", 30*time.Second)
			if r.Outcome != result.RolledBack || r.ECSStatus != "ROLLBACK_SUCCESSFUL" || r.Reason == nil || r.Reason.Kind != result.KindAlarm {
				t.Fatalf("result = %+v (reason %+v)", r, r.Reason)
			}
			if want := "rolled back: alarm web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; r.Reason.Summary != want {
				t.Errorf("first line = %q\nwant         %q", r.Reason.Summary, want)
			}
			if !strings.Contains(strings.Join(r.Reason.Details, "\n"), "web-5xx-count: HTTPCode_Target_5XX_Count Sum 30 (threshold 10) for 2 of 3 minutes during BAKE_TIME") {
				t.Errorf("details = %q; want the second alarm's summary", r.Reason.Details)
			}
			ev := r.Reason.Evidence
			if ev == nil || len(ev.Alarms) != 2 {
				t.Fatalf("evidence = %+v", ev)
			}
			rate, count := ev.Alarms[0], ev.Alarms[1]
			if rate.Name != "web-5xx-rate" || rate.Stage != "BAKE_TIME" || rate.Metric != "5xx rate %" || rate.Breaching != 2 || len(rate.Datapoints) != 2 {
				t.Errorf("metric-math evidence (datapoints from the state reason in moto) = %+v", rate)
			}
			var values []float64
			for _, p := range count.Datapoints {
				values = append(values, p.Value)
			}
			if count.Name != "web-5xx-count" || count.Stage != "BAKE_TIME" || fmt.Sprint(values) != "[3 15 30]" || count.Breaching != 2 {
				t.Errorf("plain-alarm evidence (GetMetricData) = %+v", count)
			}
			// Asked once, recorded once.
			if n := s.fake.Calls("StopServiceDeployment"); n != 1 {
				t.Errorf("StopServiceDeployment called %d times; want 1", n)
			}
			for _, dep := range s.fake.Deployments() {
				if dep.ARN == sdARN && !dep.StopRequested {
					t.Error("the fake saw no stop request for the deployment")
				}
			}
			if claimed, err := s.table.ClaimStop(ctx, sdARN, "test"); err != nil || claimed {
				t.Errorf("the ledger's STOP marker is missing (claim = %v, %v)", claimed, err)
			}
			if h, err := s.table.Lock(ctx, cluster+"/web"); err != nil || h != nil {
				t.Errorf("lock after the execution = %+v, %v", h, err)
			}
		})

		t.Run("regression after success rolls back to the last good revision", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			good := result.Result{Version: 1, ID: "seed/aw/api", Outcome: result.Succeeded, Cluster: cluster, Service: "api", Route: "api",
				Image:     result.Image{Repository: "api", Tag: "v1", Digest: digest(10)},
				StartedAt: time.Now().Add(-2 * time.Hour), FinishedAt: time.Now().Add(-110 * time.Minute)}
			if err := s.table.PutResult(ctx, good); err != nil {
				t.Fatal(err)
			}
			s.fake.Script(cluster, "api", bake(1)...)
			arn := s.start(t, pushEvent("api", "v2", digest(11), "ev-api-11"))
			id := execName(arn) + "/aw/api"
			if r := s.result(t, id, 90*time.Second); r.Outcome != result.Succeeded {
				t.Fatalf("first result = %+v", r)
			}
			s.fire(t, "api-5xx-count", countReason, false)

			reg := s.result(t, id+"/regressed", 60*time.Second)
			if reg.Outcome != result.Regressed || reg.FollowUpOf != id || reg.Image.Digest != digest(11) || reg.Reason == nil || reg.Reason.Kind != result.KindRegression {
				t.Fatalf("REGRESSED result = %+v", reg)
			}
			if !strings.HasPrefix(reg.Reason.Summary, "api-5xx-count: HTTPCode_Target_5XX_Count Sum 30 (threshold 10) for 2 of 3 minutes, in ALARM since ") {
				t.Errorf("REGRESSED first line = %q", reg.Reason.Summary)
			}
			if d := s.wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s", d.Status, aws.ToString(d.Cause))
			}

			// The state machine asks Step Functions to start the rollback as a new execution
			// of itself, with the watch's request as its input.
			params := s.scheduled(t, arn, "startExecution")
			if params == nil {
				t.Fatalf("Start rollback deployment was never scheduled; last events:\n%s", s.history(t, arn, 8))
			}
			var call struct {
				StateMachineArn string
				Input           json.RawMessage
			}
			if err := json.Unmarshal([]byte(*params), &call); err != nil {
				t.Fatalf("startExecution parameters %s: %v", *params, err)
			}
			var in struct {
				Request struct {
					Source, Route, Cluster, Service, FollowUpOf string
					Image                                       result.Image
				}
			}
			if err := json.Unmarshal(call.Input, &in); err != nil {
				t.Fatalf("rollback input %s: %v", call.Input, err)
			}
			rq := in.Request
			if call.StateMachineArn != s.sm || rq.Source != "regression-rollback" || rq.Image.Digest != digest(10) || rq.FollowUpOf != id+"/regressed" ||
				rq.Route != "api" || rq.Cluster != cluster || rq.Service != "api" {
				t.Fatalf("startExecution parameters = %s", *params)
			}
			// moto's states:startExecution integration passes the parameters to boto3 with
			// AWS casing (StateMachineArn, Input) and fails with States.Runtime: when it did,
			// start the same input as Step Functions would, so the rollback still runs.
			var rollbackARN string
			for _, x := range s.executions(t) {
				d, err := s.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: x.ExecutionArn})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(aws.ToString(d.Input), `"regression-rollback"`) {
					rollbackARN = *x.ExecutionArn
				}
			}
			if rollbackARN == "" {
				t.Logf("moto did not start the rollback execution (%s); starting it with the scheduled input", s.rollbackError(t, arn))
				rollbackARN = s.start(t, string(call.Input))
			}
			if d := s.wait(t, rollbackARN); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("rollback execution %s: %s", d.Status, aws.ToString(d.Cause))
			}
			rb := s.result(t, execName(rollbackARN)+"/aw/api", 30*time.Second)
			if rb.Image.Digest != digest(10) || rb.Trigger.Source != "regression-rollback" || rb.Outcome != result.Succeeded {
				t.Errorf("rollback result = %+v", rb)
			}
			// The alarm that caused it was still firing: the rollback went ahead, and says so.
			if !strings.Contains(strings.Join(rb.Warnings, "\n"), "is a rollback, which an alarm never blocks") {
				t.Errorf("rollback warnings = %q", rb.Warnings)
			}
		})
	})
	t.Logf("alarm state machine scenarios ran in %s", time.Since(began).Round(time.Second))
}
