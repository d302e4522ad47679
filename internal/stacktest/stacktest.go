package stacktest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
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

const (
	// Account is where the stack lives: moto's default account.
	Account = localaws.DefaultAccount
	// Registry is the ECR registry of the stack's images.
	Registry = Account + ".dkr.ecr." + localaws.Region + ".amazonaws.com"
	// StackName is the automation stack's name; template.yaml names the state machine
	// ${AWS::StackName}-deploy.
	StackName = "greenlight"
	// StateMachineName is the deploy state machine's name.
	StateMachineName = StackName + "-deploy"
)

// StateMachineARN is the deploy state machine's ARN, which the template builds from its
// fixed name for the regression rollback's own start.
var StateMachineARN = fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", localaws.Region, Account, StateMachineName)

// Options configures New.
type Options struct {
	// Name prefixes the stack's resources: the ledger table <Name>-ledger, the routes
	// parameter /<Name>/routes, the result topic and its queue <Name>-results, the functions
	// <Name>-<function>, the role <Name>-fn and the ECR push rule <Name>-ecr-push. Required.
	Name string
	// Functions are the functions/<name> packages run under aws-lambda-rie, for example
	// resolve, lock, start, check, finalize. The state machine's other functions get the ARN
	// of a Lambda function that does not exist: a call to one fails the execution.
	Functions []string
	// Routes is the routes document stored in the routes parameter.
	Routes string
	// Cluster is the ECS cluster created in moto; default Name.
	Cluster string
	// Services are Cluster's services: each a BLUE_GREEN service (bake time one minute) whose
	// task definition, of the service's name, runs Registry/<service>:old in container app.
	Services []string
	// Scripts are deployfake's scripts, per service of Cluster, set before any execution.
	Scripts map[string][]deployfake.Step
	// Parameters are template.yaml's parameters.
	Parameters map[string]any
	// Env is added to every function's environment, after the stack's own: the endpoints
	// (moto, and deployfake for ECS), LEDGER_TABLE, ROUTES_PARAMETER, RESULT_TOPIC_ARN,
	// EVENT_BUS_NAME=default, GREENLIGHT_TIME_SCALE=0.01, one-second polls and the CloudWatch
	// query protocol moto needs.
	Env []string
}

// Stack is the local automation stack. Its clients act in Account.
type Stack struct {
	Moto      *localaws.Moto
	Fake      *deployfake.Server
	Config    aws.Config
	Table     *ledger.Table
	TopicARN  string
	QueueURL  string
	Functions map[string]*localaws.Function // by functions/<name>

	// StateMachineARN is the deploy state machine's ARN (the package's StateMachineARN).
	StateMachineARN string

	SFN        *sfn.Client
	SQS        *sqs.Client
	Events     *eventbridge.Client
	ECS        *ecs.Client
	CloudWatch *cloudwatch.Client // with the query protocol moto needs

	mu      sync.Mutex
	results map[string]Message
	listMu  sync.Mutex // one ListExecutions at a time
}

// Message is one result as the result topic delivered it.
type Message struct {
	Result     result.Result
	Attributes map[string]string // the SNS message attributes subscriptions filter on
	Subject    string
}

// New builds the stack for the test and stops what it started when the test ends. It fails
// the test when any part cannot be made.
func New(t *testing.T, o Options) *Stack {
	t.Helper()
	if o.Name == "" {
		t.Fatal("stacktest.Options.Name is empty: it prefixes the stack's resources (for example \"sm\")")
	}
	if o.Cluster == "" {
		o.Cluster = o.Name
	}
	if testing.Short() {
		t.Skip("runs the deploy state machine in moto with the real bootstraps; skipped with -short")
	}
	moduleDir := awstest.ModuleDir(t)
	buildDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	t.Cleanup(func() { cancel(); bg.Wait() }) // before buildDir is removed

	// The slow parts start first and run while moto starts and is set up: the one go build
	// of every bootstrap, and the SAM translation of template.yaml.
	type built struct {
		paths []string
		err   error
	}
	builds := make(chan built, 1)
	pkgs := make([]string, len(o.Functions))
	for i, fn := range o.Functions {
		pkgs[i] = "./functions/" + fn
	}
	bg.Add(2)
	go func() {
		defer bg.Done()
		paths, err := localaws.BuildBootstraps(ctx, moduleDir, pkgs, buildDir)
		builds <- built{paths, err}
	}()
	type loaded struct {
		tp  *samtemplate.Template
		err error
	}
	templates := make(chan loaded, 1)
	go func() {
		defer bg.Done()
		tp, err := samtemplate.Load(ctx, filepath.Join(moduleDir, "template.yaml"))
		templates <- loaded{tp, err}
	}()

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
	s := &Stack{Moto: m, Config: cfg, Functions: map[string]*localaws.Function{}, StateMachineARN: StateMachineARN,
		SFN: sfn.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg), Events: eventbridge.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg), CloudWatch: cw,
		results: map[string]Message{}}
	fake, err := deployfake.New(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	s.Fake = fake

	table, param := o.Name+"-ledger", "/"+o.Name+"/routes"
	s.data(t, ctx, table, param, o.Name+"-results", o.Routes)
	s.services(t, ctx, o.Cluster, o.Services)
	for svc, steps := range o.Scripts {
		fake.Script(o.Cluster, svc, steps...)
	}
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(o.Name + "-fn"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	roleARN := aws.ToString(role.Role.Arn)

	// The real bootstraps under aws-lambda-rie, created as Lambda functions in moto.
	rie, err := localaws.InstallRIE(ctx, filepath.Join(moduleDir, ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	b := <-builds
	if b.err != nil {
		t.Fatal(b.err)
	}
	env := append([]string{
		"AWS_ENDPOINT_URL=" + m.URL, "AWS_ENDPOINT_URL_ECS=" + fake.URL,
		"LEDGER_TABLE=" + table, "ROUTES_PARAMETER=" + param, "RESULT_TOPIC_ARN=" + s.TopicARN, "EVENT_BUS_NAME=default",
		"GREENLIGHT_TIME_SCALE=0.01", "GREENLIGHT_POLL_MIN_SECONDS=1", "GREENLIGHT_POLL_MAX_SECONDS=1",
		"GREENLIGHT_CLOUDWATCH_PROTOCOL=query",
	}, o.Env...)
	s.startFunctions(t, ctx, o, localaws.FunctionOptions{RIEPath: rie, Env: env, Moto: m, Account: Account, RoleARN: roleARN}, b.paths)

	// The state machine and the rule, from template.yaml itself.
	l := <-templates
	if l.err != nil {
		t.Fatal(l.err)
	}
	refs := map[string]string{"ResultTopic": s.TopicARN, "LedgerTable": table, "RoutesParameter": param, "DeployStateMachine": StateMachineARN}
	vals := samtemplate.Values{
		Parameters: o.Parameters,
		Pseudo:     samtemplate.DefaultPseudo(Account, localaws.Region, StackName),
		Ref:        func(id string) (any, bool) { v, ok := refs[id]; return v, ok },
		GetAtt: func(id, attr string) (any, bool) {
			name, isFunction := strings.CutSuffix(id, "Function")
			if !isFunction || attr != "Arn" {
				return nil, false
			}
			if f, ok := s.Functions[strings.ToLower(name)]; ok {
				return f.ARN, true
			}
			return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s-%s-not-started", localaws.Region, Account, o.Name, strings.ToLower(name)), true
		},
	}
	def, err := l.tp.StateMachineDefinition("DeployStateMachine", vals)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := s.SFN.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(StateMachineName), Definition: aws.String(def), RoleArn: aws.String(roleARN)})
	if err != nil {
		t.Fatal(err)
	}
	if *sm.StateMachineArn != StateMachineARN {
		t.Fatalf("state machine ARN %s, want %s (the rollback start uses it)", *sm.StateMachineArn, StateMachineARN)
	}
	pattern, err := l.tp.RulePattern("DeployStateMachineEcrPush", vals)
	if err != nil {
		t.Fatal(err)
	}
	rule := o.Name + "-ecr-push"
	if _, err := s.Events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule),
		Targets: []ebtypes.Target{{Id: aws.String(o.Name), Arn: sm.StateMachineArn, RoleArn: aws.String(roleARN)}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// data makes the ledger table, the routes parameter, and the result topic with a queue of
// the same name subscribed to it, to read results back.
func (s *Stack) data(t *testing.T, ctx context.Context, table, param, results, routes string) {
	t.Helper()
	db := dynamodb.NewFromConfig(s.Config)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	s.Table = ledger.New(db, table)
	if _, err := ssm.NewFromConfig(s.Config).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(routes), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	snsc := sns.NewFromConfig(s.Config)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(results)})
	if err != nil {
		t.Fatal(err)
	}
	s.TopicARN = aws.ToString(topic.TopicArn)
	q, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(results)})
	if err != nil {
		t.Fatal(err)
	}
	s.QueueURL = aws.ToString(q.QueueUrl)
	qa, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
}

// services makes the cluster and one BLUE_GREEN service per name.
func (s *Stack) services(t *testing.T, ctx context.Context, cluster string, services []string) {
	t.Helper()
	if _, err := s.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range services {
		td, err := s.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(svc), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(Registry + "/" + svc + ":old"), Essential: aws.Bool(true)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(svc), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			DesiredCount: aws.Int32(1), DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(svc),
			DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// startFunctions starts every function at once (each one's emulator, zip and CreateFunction
// are independent), and stops them when the test ends, after printing the end of each log
// if the test failed.
func (s *Stack) startFunctions(t *testing.T, ctx context.Context, o Options, common localaws.FunctionOptions, bootstraps []string) {
	t.Helper()
	fns := make([]*localaws.Function, len(o.Functions))
	errs := make([]error, len(o.Functions))
	var wg sync.WaitGroup
	for i, fn := range o.Functions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fo := common
			fo.Name, fo.Bootstrap = o.Name+"-"+fn, bootstraps[i]
			fns[i], errs[i] = localaws.StartFunction(ctx, fo)
		}()
	}
	wg.Wait()
	for i, fn := range o.Functions {
		f := fns[i]
		if f == nil {
			continue
		}
		s.Functions[fn] = f
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", fn, f.LogTail(40))
			}
			_ = f.Stop()
		})
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
