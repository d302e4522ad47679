package rehearsal

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

// Names of the local stacks and of what the demo environment creates.
const (
	stackName   = "greenlight"      // the automation stack (template.yaml)
	envStack    = "greenlight-demo" // the demo environment (environment/template.yaml)
	projectName = "greenlight-demo" // its ProjectName parameter (the default)
	account     = localaws.DefaultAccount
	region      = localaws.Region
	registry    = account + ".dkr.ecr." + region + ".amazonaws.com"

	repository  = projectName + "-app"
	clusterName = projectName + "-cluster"
	serviceName = projectName + "-service"
	alarmName   = projectName + "-5xx-rate"
	chatChannel = "rehearsal-chat"
	blueTag     = "v1.0.0"
)

// stackOut is what the automation stack created that the rest of the rehearsal uses.
type stackOut struct {
	b             *builder
	stateMachine  string
	resultTopic   string
	smokeFunction string
	routes        *routes.Document
	route         routes.Route
	// table is the ledger table's name, dlq the notifier's dead-letter queue URL.
	table, dlq string
}

// stackParameters are template.yaml's parameters for the rehearsal: the quick-start route
// pointed at the demo environment, with time compressed.
func (l *local) stackParameters() map[string]any {
	scale := strconv.FormatFloat(l.o.TimeScale, 'f', -1, 64)
	return map[string]any{
		"Repository":     repository,
		"Environment":    "rehearsal",
		"ClusterName":    clusterName,
		"ServiceName":    serviceName,
		"ContainerName":  l.o.container,
		"AlarmNames":     alarmName,
		"SmokeCheckPath": l.o.HealthPath,
		"TaskRoleArns": "arn:aws:iam::" + account + ":role/" + physicalName(envStack, "TaskRole", 64) +
			",arn:aws:iam::" + account + ":role/" + physicalName(envStack, "TaskExecutionRole", 64),
		"TimeScale":      scale,
		"PollMinSeconds": "1",
		"PollMaxSeconds": "2",
	}
}

// createStack creates the automation stack's resources from the translated template.yaml.
func (l *local) createStack(ctx context.Context, sc Scenario) (*stackOut, error) {
	out := &stackOut{}
	var routesErr error
	b := &builder{
		file:   "template.yaml",
		log:    l.log,
		t:      l.stack,
		params: l.stackParameters(),
		pseudo: samtemplate.DefaultPseudo(account, region, stackName),
		skip:   map[string]notNeeded{},
	}
	c := l.c
	b.creators = map[string]creator{
		"AWS::IAM::Role":      l.createRole(stackName),
		"AWS::Logs::LogGroup": l.createLogGroup(stackName),
		"AWS::DynamoDB::Table": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["TableName"])
			if name == "" {
				name = physicalName(stackName, id, 255)
			}
			var in dynamodb.CreateTableInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			in.TableName = aws.String(name)
			if _, err := c.ddb.CreateTable(ctx, &in); err != nil {
				return physical{}, err
			}
			if ttl, ok := p["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
				if _, err := c.ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
					TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(str(ttl["AttributeName"])), Enabled: aws.Bool(true)}}); err != nil {
					return physical{}, err
				}
			}
			arn := "arn:aws:dynamodb:" + region + ":" + account + ":table/" + name
			return physical{Ref: name, Atts: map[string]any{"Arn": arn}}, nil
		},
		"AWS::SNS::Topic": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["TopicName"])
			if name == "" {
				name = physicalName(stackName, id, 256)
			}
			attrs := map[string]string{}
			for _, k := range []string{"DisplayName", "KmsMasterKeyId"} {
				if v := str(p[k]); v != "" {
					attrs[k] = v
				}
			}
			t, err := c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(t.TopicArn), Atts: map[string]any{"TopicArn": aws.ToString(t.TopicArn), "TopicName": name}}, nil
		},
		"AWS::SQS::Queue": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["QueueName"])
			if name == "" {
				name = physicalName(stackName, id, 80)
			}
			attrs := map[string]string{}
			for _, k := range []string{"MessageRetentionPeriod", "SqsManagedSseEnabled", "VisibilityTimeout"} {
				if v, ok := p[k]; ok {
					attrs[k] = str(v)
				}
			}
			q, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
			if err != nil {
				return physical{}, err
			}
			a, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(q.QueueUrl), Atts: map[string]any{"Arn": a.Attributes["QueueArn"], "QueueName": name, "QueueUrl": aws.ToString(q.QueueUrl)}}, nil
		},
		"AWS::SSM::Parameter": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["Name"])
			value := str(p["Value"])
			if id == "RoutesParameter" {
				doc, route, err := l.rehearsalRoutes(ctx, value, sc)
				if err != nil {
					routesErr = err
					return physical{}, err
				}
				out.routes, out.route = doc, route
				js, err := doc.JSON()
				if err != nil {
					return physical{}, err
				}
				value = string(js)
			}
			if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
				Type: ssmtypes.ParameterType(str(p["Type"])), Description: aws.String(str(p["Description"])), Overwrite: aws.Bool(true)}); err != nil {
				return physical{}, err
			}
			return physical{Ref: name, Atts: map[string]any{"Type": str(p["Type"]), "Value": value}}, nil
		},
		"AWS::Lambda::Function": l.createFunction(b),
		"AWS::Lambda::EventInvokeConfig": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in lambda.PutFunctionEventInvokeConfigInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			if _, err := c.lambda.PutFunctionEventInvokeConfig(ctx, &in); err != nil {
				return physical{}, err
			}
			return physical{Ref: id}, nil
		},
		"AWS::Lambda::Permission": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			if _, err := c.lambda.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String(str(p["FunctionName"])), StatementId: aws.String(id),
				Action: aws.String(str(p["Action"])), Principal: aws.String(str(p["Principal"])), SourceArn: optional(str(p["SourceArn"]))}); err != nil {
				return physical{}, err
			}
			return physical{Ref: id}, nil
		},
		"AWS::SNS::Subscription": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			s, err := c.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(str(p["TopicArn"])), Protocol: aws.String(str(p["Protocol"])),
				Endpoint: aws.String(str(p["Endpoint"])), ReturnSubscriptionArn: true})
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(s.SubscriptionArn)}, nil
		},
		"AWS::CloudWatch::Dashboard": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["DashboardName"])
			if _, err := c.cw.PutDashboard(ctx, &cloudwatch.PutDashboardInput{DashboardName: aws.String(name), DashboardBody: aws.String(str(p["DashboardBody"]))}); err != nil {
				return physical{}, err
			}
			return physical{Ref: name}, nil
		},
		"AWS::StepFunctions::StateMachine": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			def, err := l.stack.StateMachineDefinition(id, b.values())
			if err != nil {
				return physical{}, err
			}
			name := str(p["StateMachineName"])
			if name == "" {
				name = physicalName(stackName, id, 80)
			}
			in := &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(str(p["RoleArn"])),
				Type: sfntypes.StateMachineType(str(p["StateMachineType"]))}
			if lc, ok := p["LoggingConfiguration"].(map[string]any); ok {
				in.LoggingConfiguration = &sfntypes.LoggingConfiguration{}
				if err := decode(lc, in.LoggingConfiguration); err != nil {
					return physical{}, err
				}
			}
			if tc, ok := p["TracingConfiguration"].(map[string]any); ok {
				in.TracingConfiguration = &sfntypes.TracingConfiguration{Enabled: tc["Enabled"] == true}
			}
			sm, err := c.sfn.CreateStateMachine(ctx, in)
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(sm.StateMachineArn), Atts: map[string]any{"Arn": aws.ToString(sm.StateMachineArn), "Name": name}}, nil
		},
		"AWS::Events::Rule": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["Name"])
			if name == "" {
				name = physicalName(stackName, id, 64)
			}
			in := &eventbridge.PutRuleInput{Name: aws.String(name), State: ebtypes.RuleStateEnabled, Description: optional(str(p["Description"]))}
			if p["EventPattern"] != nil {
				pattern, err := l.stack.RulePattern(id, b.values())
				if err != nil {
					return physical{}, err
				}
				in.EventPattern = aws.String(string(pattern))
			}
			// moto stores schedules but never fires them (the reconcile schedule stays idle).
			in.ScheduleExpression = optional(str(p["ScheduleExpression"]))
			r, err := c.events.PutRule(ctx, in)
			if err != nil {
				return physical{}, err
			}
			var targets []ebtypes.Target
			if err := decode(map[string]any{"Targets": p["Targets"]}, &struct{ Targets *[]ebtypes.Target }{&targets}); err != nil {
				return physical{}, err
			}
			if len(targets) > 0 {
				t, err := c.events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: targets})
				if err != nil {
					return physical{}, err
				}
				if t.FailedEntryCount > 0 {
					return physical{}, fmt.Errorf("PutTargets: %d failed", t.FailedEntryCount)
				}
			}
			return physical{Ref: name, Atts: map[string]any{"Arn": aws.ToString(r.RuleArn)}}, nil
		},
	}
	if err := b.build(ctx); err != nil {
		if routesErr != nil {
			return nil, routesErr
		}
		return nil, err
	}
	out.b = b
	out.stateMachine = str(b.made["DeployStateMachine"].Ref)
	out.resultTopic = str(b.made["ResultTopic"].Ref)
	out.smokeFunction = str(b.made["SmokeTestFunction"].Atts["Arn"])
	out.table = str(b.made["LedgerTable"].Ref)
	out.dlq = str(b.made["NotifyDLQ"].Ref)
	if out.stateMachine == "" || out.resultTopic == "" || out.smokeFunction == "" || out.table == "" || out.dlq == "" {
		return nil, fmt.Errorf("template.yaml: the rehearsal needs DeployStateMachine, ResultTopic, SmokeTestFunction, LedgerTable and NotifyDLQ")
	}
	return out, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (l *local) createRole(stack string) creator {
	return func(ctx context.Context, id string, p map[string]any) (physical, error) {
		c := l.c
		name := str(p["RoleName"])
		if name == "" {
			name = physicalName(stack, id, 64)
		}
		r, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(jsonString(p["AssumeRolePolicyDocument"])),
			Description: optional(str(p["Description"])), Path: optional(str(p["Path"]))})
		if err != nil {
			return physical{}, err
		}
		pols, _ := p["Policies"].([]any)
		for _, x := range pols {
			pm, _ := x.(map[string]any)
			doc := pm["PolicyDocument"]
			if d, ok := doc.(map[string]any); ok && d["Version"] == nil {
				// IAM defaults a missing Version to 2008-10-17; moto refuses the document.
				// The SAM transform writes none for inline statements.
				d["Version"] = "2012-10-17"
			}
			if _, err := c.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(str(pm["PolicyName"])),
				PolicyDocument: aws.String(jsonString(doc))}); err != nil {
				return physical{}, fmt.Errorf("policy %s: %w", str(pm["PolicyName"]), err)
			}
		}
		seen := map[string]bool{}
		arns, _ := p["ManagedPolicyArns"].([]any)
		for _, a := range arns {
			arn := str(a)
			if seen[arn] {
				continue
			}
			seen[arn] = true
			if _, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(arn)}); err != nil {
				return physical{}, fmt.Errorf("attach %s: %w", arn, err)
			}
		}
		return physical{Ref: name, Atts: map[string]any{"Arn": aws.ToString(r.Role.Arn), "RoleId": aws.ToString(r.Role.RoleId)}}, nil
	}
}

func (l *local) createLogGroup(stack string) creator {
	return func(ctx context.Context, id string, p map[string]any) (physical, error) {
		name := str(p["LogGroupName"])
		if name == "" {
			name = physicalName(stack, id, 512)
		}
		if err := l.c.raw.jsonRPC(ctx, "logs", "Logs_20140328.CreateLogGroup", map[string]any{"logGroupName": name}, nil); err != nil {
			return physical{}, err
		}
		if d := num(p["RetentionInDays"]); d > 0 {
			if err := l.c.raw.jsonRPC(ctx, "logs", "Logs_20140328.PutRetentionPolicy", map[string]any{"logGroupName": name, "retentionInDays": d}, nil); err != nil {
				return physical{}, err
			}
		}
		return physical{Ref: name, Atts: map[string]any{"Arn": "arn:aws:logs:" + region + ":" + account + ":log-group:" + name + ":*"}}, nil
	}
}

// createFunction creates the Lambda function in moto (with the zip sam build would make)
// and runs its bootstrap under aws-lambda-rie with the environment Lambda would give it:
// the template's variables, plus the local endpoints.
func (l *local) createFunction(b *builder) creator {
	return func(ctx context.Context, id string, p map[string]any) (physical, error) {
		name := str(p["FunctionName"])
		if name == "" {
			name = physicalName(stackName, id, 64)
		}
		codeDir := l.stack.CodeDir(id)
		env, err := l.stack.FunctionEnvironment(id, b.values())
		if err != nil {
			return physical{}, err
		}
		runEnv := map[string]string{}
		for k, v := range env {
			runEnv[k] = v
		}
		runEnv["AWS_ENDPOINT_URL"] = l.awsFront.URL // moto, through the fault-injection proxy
		runEnv["AWS_ENDPOINT_URL_ECS"] = l.ecs.url  // the ECS blue/green emulator
		runEnv["GREENLIGHT_CLOUDWATCH_PROTOCOL"] = "query"
		if lc, ok := p["LoggingConfig"].(map[string]any); ok && str(lc["LogFormat"]) != "" {
			runEnv["AWS_LAMBDA_LOG_FORMAT"] = str(lc["LogFormat"])
		}
		timeout := time.Duration(num(p["Timeout"])) * time.Second
		if timeout == 0 {
			timeout = 3 * time.Second
		}
		if err := l.ensureRIE(ctx, name, codeDir, runEnv, timeout); err != nil {
			return physical{}, err
		}
		zipped, err := zipOf(l.boots[codeDir])
		if err != nil {
			return physical{}, err
		}
		var archs []lambdatypes.Architecture
		if as, ok := p["Architectures"].([]any); ok {
			for _, a := range as {
				archs = append(archs, lambdatypes.Architecture(str(a)))
			}
		}
		in := &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String(str(p["Role"])), Runtime: lambdatypes.Runtime(str(p["Runtime"])),
			Handler: aws.String(str(p["Handler"])), Architectures: archs, Description: optional(str(p["Description"])),
			Code: &lambdatypes.FunctionCode{ZipFile: zipped}, Environment: &lambdatypes.Environment{Variables: env}}
		if m := num(p["MemorySize"]); m > 0 {
			in.MemorySize = aws.Int32(int32(m))
		}
		if t := num(p["Timeout"]); t > 0 {
			in.Timeout = aws.Int32(int32(t))
		}
		fn, err := l.c.lambda.CreateFunction(ctx, in)
		if err != nil {
			return physical{}, err
		}
		return physical{Ref: name, Atts: map[string]any{"Arn": aws.ToString(fn.FunctionArn)}}, nil
	}
}

var zips = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

// zipOf packages a bootstrap once per process.
func zipOf(path string) ([]byte, error) {
	zips.Lock()
	defer zips.Unlock()
	if z, ok := zips.m[path]; ok {
		return z, nil
	}
	z, err := localaws.ZipBootstrap(path)
	if err != nil {
		return nil, err
	}
	zips.m[path] = z
	return z, nil
}

// rehearsalRoutes turns the routes document into the one the rehearsal stores: the
// template's quick-start route (or the first route of --routes, pointed at the demo
// service), with every chat channel delivering to the local receiver.
func (l *local) rehearsalRoutes(ctx context.Context, templateValue string, sc Scenario) (*routes.Document, routes.Route, error) {
	src, what := []byte(templateValue), "template.yaml's RoutesParameter"
	if l.o.RoutesFile != "" {
		b, err := os.ReadFile(l.o.RoutesFile)
		if err != nil {
			return nil, routes.Route{}, usagef("--routes: %v", err)
		}
		src, what = b, l.o.RoutesFile
	}
	doc, err := routes.Parse(src)
	if err != nil {
		if l.o.RoutesFile != "" {
			return nil, routes.Route{}, usagef("--routes %s: %v", l.o.RoutesFile, err)
		}
		return nil, routes.Route{}, fmt.Errorf("%s: %w", what, err)
	}
	if len(doc.Routes) == 0 {
		return nil, routes.Route{}, usagef("%s has no route to rehearse", what)
	}
	r := &doc.Routes[0]
	if l.o.RoutesFile != "" {
		if r.Repository != repository || len(r.Targets) != 1 || r.Targets[0].Cluster != clusterName || r.Targets[0].Service != serviceName {
			l.tl.note("route %s: rehearsed on the demo service: repository %s → %s, targets → %s/%s", r.Name, r.Repository, repository, clusterName, serviceName)
		}
		r.Repository = repository
		r.Targets = []routes.Target{{Cluster: clusterName, Service: serviceName, Container: l.o.container}}
		if r.Alarms != nil && len(r.Alarms.Names) > 0 && !(len(r.Alarms.Names) == 1 && r.Alarms.Names[0] == alarmName) {
			l.tl.note("route %s: alarms %s → %s (the demo environment's 5xx-rate alarm)", r.Name, strings.Join(r.Alarms.Names, ", "), alarmName)
			r.Alarms.Names = []string{alarmName}
		}
	}
	if doc.Channels == nil {
		doc.Channels = map[string]routes.Channel{}
	}
	if len(r.Notify) == 0 {
		r.Notify = []string{chatChannel}
		doc.Channels[chatChannel] = routes.Channel{Type: "slack"}
	}
	if sc.Fault != nil {
		names := make([]string, 0, len(sc.Fault.Channels))
		for name := range sc.Fault.Channels {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			doc.Channels[name] = routes.Channel{Type: sc.Fault.Channels[name]}
			r.Notify = append(r.Notify, name)
		}
	}
	for name, ch := range doc.Channels {
		arn, err := l.chatSecret(ctx, name)
		if err != nil {
			return nil, routes.Route{}, err
		}
		ch.WebhookSecretArn, ch.SigningSecretArn = arn, ""
		doc.Channels[name] = ch
		l.receiver.expect(name, ch.Type)
	}
	if err := doc.Validate(); err != nil {
		return nil, routes.Route{}, fmt.Errorf("the rehearsal's routes: %w", err)
	}
	return doc, *r, nil
}

// chatSecret stores the receiver's URL for a channel in Secrets Manager, as a user stores a
// Slack webhook URL.
func (l *local) chatSecret(ctx context.Context, channel string) (string, error) {
	s, err := l.c.secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("greenlight/rehearsal/" + channel),
		SecretString: aws.String(l.receiver.url + "/chat/" + channel)})
	if err != nil {
		return "", fmt.Errorf("store the chat receiver's URL for %s: %w", channel, err)
	}
	return aws.ToString(s.ARN), nil
}
