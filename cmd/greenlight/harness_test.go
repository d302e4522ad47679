package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/cli"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) {
	// The SDK reads credentials and shared config from the process environment: pin them so
	// a developer's own AWS setup never reaches the tests.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
	} {
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	code := m.Run()
	if motoSrv != nil {
		_ = motoSrv.Stop()
	}
	os.Exit(code)
}

var (
	motoOnce sync.Once
	motoSrv  *localaws.Moto
	motoErr  error
)

// sharedMoto is this test binary's own patched moto_server (internal/localaws), started on
// first use. It is not awstest's shared one because verify needs AWS managed IAM policies
// (AmazonECSInfrastructureRolePolicyForLoadBalancers), which moto loads only with
// MOTO_IAM_LOAD_MANAGED_POLICIES=true. Like awstest, it fails (never skips) without moto,
// unless -short.
func sharedMoto(t *testing.T) *localaws.Moto {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server; skipped with -short")
	}
	motoOnce.Do(func() {
		motoSrv, motoErr = localaws.StartMoto(context.Background(), localaws.MotoOptions{Env: []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true"}})
	})
	if motoErr != nil {
		t.Fatalf("start moto_server: %v", motoErr)
	}
	return motoSrv
}

// t0 is the tests' fixed clock.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const (
	ledgerTable = "greenlight-ledger"
	routesParam = "/greenlight/routes"
	machineName = "greenlight-deploy"
	// passMachine receives the input and holds the execution RUNNING for 3 s (real time in
	// moto), so --wait sees it running before it ends.
	passMachine  = `{"StartAt":"Receive","States":{"Receive":{"Type":"Pass","Next":"Hold"},"Hold":{"Type":"Wait","Seconds":3,"End":true}}}`
	manifestV123 = `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333"}]}`
	manifestV122 = `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":4,"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444"}]}`
)

// env is one test's local AWS (its own moto account) and a way to run the CLI against it.
type env struct {
	t       *testing.T
	moto    *localaws.Moto
	account string
	cfg     aws.Config
	vars    map[string]string
	stdin   string
	tty     bool

	mu  sync.Mutex
	now time.Time
	// onSleep runs at each watch/wait tick (after the clock moved).
	onSleep func()
	ecs     *fakeECS
	// wrapECS, when set, replaces the CLI's ECS client (the emulator).
	wrapECS func(c *cli.Clients)
	sm      string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := sharedMoto(t)
	account := awstest.Account(t)
	cfg, err := localaws.Config(context.Background(), m.URL, account)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, moto: m, account: account, cfg: cfg, now: t0}
	e.vars = map[string]string{
		"GREENLIGHT_LEDGER_TABLE":        ledgerTable,
		"GREENLIGHT_ROUTES_PARAMETER":    routesParam,
		"USER":                           "tester",
		"GREENLIGHT_CLOUDWATCH_PROTOCOL": "query", // moto speaks query, not CBOR (internal/awsenv)
	}
	ctx := context.Background()
	if _, err := dynamodb.NewFromConfig(e.cfg).CreateTable(ctx, ledger.CreateTableInput(ledgerTable)); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// run runs the CLI with the global AWS flags pointing at moto, and returns its output.
func (e *env) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	app := newApp(func(k string) string { return e.vars[k] }, strings.NewReader(e.stdin), &out, &errb)
	app.Now = e.clock
	app.Sleep = func(ctx context.Context, d time.Duration) error {
		e.mu.Lock()
		e.now = e.now.Add(d)
		e.mu.Unlock()
		if e.onSleep != nil {
			e.onSleep()
		} else {
			time.Sleep(50 * time.Millisecond) // let moto's execution move on in real time
		}
		return ctx.Err()
	}
	app.IsTerminal = func(io.Writer) bool { return e.tty }
	app.LoadAWS = func(ctx context.Context, getenv func(string) string, o cli.AWSOptions) (aws.Config, error) {
		cfg, err := cli.LoadAWS(ctx, getenv, o)
		if err != nil {
			return cfg, err
		}
		cfg.Retryer, cfg.HTTPClient = localaws.ConnectionRetryer, localaws.HTTPClient()
		cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
			return smithyhttp.AddHeaderValue("x-moto-account-id", e.account)(s)
		})
		return cfg, nil
	}
	app.WrapClients = func(c *cli.Clients) {
		if e.wrapECS != nil {
			e.wrapECS(c)
		}
		if e.ecs != nil {
			e.ecs.ECSAPI = c.ECS
			c.ECS = e.ecs
		}
	}
	full := append([]string{"--endpoint-url", e.moto.URL, "--region", localaws.Region}, args...)
	code = app.Run(context.Background(), full)
	return out.String(), errb.String(), code
}

// mustRun runs and fails the test unless the exit code is want.
func (e *env) mustRun(want int, args ...string) (string, string) {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != want {
		e.t.Fatalf("greenlight %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errs)
	}
	return out, errs
}

// golden compares got with testdata/name.golden (rewritten with -update), after scrubbing
// the parts moto makes random.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = scrub(got)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/greenlight -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var randomIDs = regexp.MustCompile(`\b[0-9a-f]{16}\b`)

func scrub(s string) string { return randomIDs.ReplaceAllString(s, "<id>") }

const schemaBase = "https://greenlight.dev/schemas/"

var (
	schemaOnce sync.Once
	schemas    map[string]*jsonschema.Schema
	schemaErr  error
)

// checkSchema validates a command's JSON output against schemas/<name>.schema.json.
func checkSchema(t *testing.T, name, doc string) map[string]any {
	t.Helper()
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		schemas = map[string]*jsonschema.Schema{}
		names := []string{"result", "status", "history", "deploy", "rollback", "verify", "routes-validate", "routes-put", "error"}
		for _, n := range names {
			f, err := os.Open(filepath.Join("schemas", n+".schema.json"))
			if err != nil {
				schemaErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(f)
			f.Close()
			if err != nil {
				schemaErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			if err := c.AddResource(schemaBase+n+".schema.json", doc); err != nil {
				schemaErr = err
				return
			}
		}
		for _, n := range names {
			s, err := c.Compile(schemaBase + n + ".schema.json")
			if err != nil {
				schemaErr = err
				return
			}
			schemas[n] = s
		}
	})
	if schemaErr != nil {
		t.Fatalf("compile schemas: %v", schemaErr)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, doc)
	}
	if err := schemas[name].Validate(inst); err != nil {
		t.Fatalf("output does not match schemas/%s.schema.json: %v\n%s", name, err, doc)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(doc), &m)
	return m
}

// --- seeding ---

const routesDoc = `{
  "version": 1,
  "routes": [{
    "name": "web-prod", "repository": "web", "tagPattern": "^v\\d+\\.\\d+\\.\\d+$", "environment": "prod",
    "targets": [{"cluster": "prod", "service": "web", "container": "app"}],
    "smokeTests": {"port": 8080, "checks": [{"name": "health", "path": "/health", "expectStatus": 200}]},
    "alarms": {"names": ["web-5xx-rate"], "postDeployWatchMinutes": 10}
  }]
}`

func (e *env) putRoutes(doc string) {
	e.t.Helper()
	_, err := ssm.NewFromConfig(e.cfg).PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(routesParam), Value: aws.String(doc), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) routesValue() string {
	e.t.Helper()
	out, err := ssm.NewFromConfig(e.cfg).GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(routesParam)})
	if err != nil {
		return ""
	}
	return aws.ToString(out.Parameter.Value)
}

// pushImage creates the repository (once) and an image; returns its digest.
func (e *env) pushImage(repo, tag, manifest string) string {
	e.t.Helper()
	c := ecr.NewFromConfig(e.cfg)
	ctx := context.Background()
	_, _ = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	out, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String(tag), ImageManifest: aws.String(manifest)})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.Image.ImageId.ImageDigest)
}

// stateMachine creates the Pass-only stand-in for <stack>-deploy and points the CLI at it.
func (e *env) stateMachine() string {
	e.t.Helper()
	out, err := sfn.NewFromConfig(e.cfg).CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String(machineName), Definition: aws.String(passMachine),
		RoleArn: aws.String(fmt.Sprintf("arn:aws:iam::%s:role/greenlight-sfn", e.account)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.sm = aws.ToString(out.StateMachineArn)
	e.vars["GREENLIGHT_STATE_MACHINE_ARN"] = e.sm
	return e.sm
}

func (e *env) executionInput(arn string) map[string]any {
	e.t.Helper()
	out, err := sfn.NewFromConfig(e.cfg).DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		e.t.Fatalf("describe execution %s: %v", arn, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.Input)), &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) ledger() *ledger.Table {
	return ledger.New(dynamodb.NewFromConfig(e.cfg), ledgerTable).WithClock(e.clock)
}

func (e *env) putResult(r result.Result) {
	e.t.Helper()
	if err := e.ledger().PutResult(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
}

// record is a ledger deployment record for prod/web.
func record(id string, outcome result.Outcome, tag, digest string, started time.Time, seconds float64) result.Result {
	r := result.Result{
		Version: 1, ID: id, Outcome: outcome, Route: "web-prod", Cluster: "prod", Service: "web", Container: "app",
		Image:     result.Image{Repository: "web", Tag: tag, Digest: digest},
		Trigger:   result.Trigger{Source: "ecr-push", PushedAt: started.Add(-20 * time.Second)},
		StartedAt: started, FinishedAt: started.Add(time.Duration(seconds * float64(time.Second))), DurationSeconds: seconds,
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:greenlight-deploy:" + strings.Split(id, "/")[0],
	}
	switch outcome {
	case result.RolledBack:
		r.Reason = &result.Reason{Kind: result.KindSmokeTestFailed, Summary: "GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms"}
	case result.Skipped:
		r.Reason = &result.Reason{Kind: result.KindDuplicate, Summary: "sha256:" + digest[7:19] + " was already deployed"}
	}
	return r
}

func digestOf(n byte) string { return "sha256:" + strings.Repeat(string(rune('0'+n)), 64) }

// --- the blue/green wiring verify reads ---

type wiring struct {
	vpc, lbArn, tgA, tgB, prodRule, testRule, lbRole, hookRole, hookFn, tgAFull, tgBFull, lbFull string
}

// ec2Query sends one raw EC2 query to moto (the Go EC2 client takes minutes to compile).
func (e *env) ec2Query(params string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.moto.URL+"/", strings.NewReader(params+"&Version=2016-11-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
	req.Header.Set("x-moto-account-id", e.account)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func firstMatch(re, s string) []string { return regexp.MustCompile(re).FindAllStringSubmatch(s, -1)[0] }

func allMatches(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

const ecsTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"AllowAccessToECSForInfrastructureManagement","Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// wire builds a correct blue/green install in moto: ALB, two target groups, production and
// test rules, roles, the hook function, the 5xx-rate alarm over both target groups, the ECS
// service (deploymentConfiguration set by UpdateService, since moto's CreateService drops
// it), the repository and the push rule targeting the state machine.
func (e *env) wire() wiring {
	e.t.Helper()
	ctx := context.Background()
	var w wiring
	vpcs := e.ec2Query("Action=DescribeVpcs")
	w.vpc = firstMatch(`<vpcId>(vpc-[0-9a-f]+)</vpcId>`, vpcs)[1]
	subnets := allMatches(`<subnetId>(subnet-[0-9a-f]+)</subnetId>`, e.ec2Query("Action=DescribeSubnets&Filter.1.Name=vpc-id&Filter.1.Value.1="+w.vpc))
	if len(subnets) < 2 {
		e.t.Fatalf("moto's default VPC has %d subnets", len(subnets))
	}
	elb := elbv2.NewFromConfig(e.cfg)
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web-alb"), Subnets: subnets[:2]})
	if err != nil {
		e.t.Fatal(err)
	}
	w.lbArn = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	mkTG := func(name string) string {
		out, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(8080), VpcId: aws.String(w.vpc), TargetType: elbtypes.TargetTypeEnumIp})
		if err != nil {
			e.t.Fatal(err)
		}
		return aws.ToString(out.TargetGroups[0].TargetGroupArn)
	}
	w.tgA, w.tgB = mkTG("web-a"), mkTG("web-b")
	fwd := func(a, b int32) []elbtypes.Action {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(w.tgA), Weight: aws.Int32(a)}, {TargetGroupArn: aws.String(w.tgB), Weight: aws.Int32(b)}}}}}
	}
	mkListener := func(port int32) string {
		out, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(w.lbArn), Port: aws.Int32(port), Protocol: elbtypes.ProtocolEnumHttp,
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(w.tgA)}}})
		if err != nil {
			e.t.Fatal(err)
		}
		return aws.ToString(out.Listeners[0].ListenerArn)
	}
	mkRule := func(listener string, prio int32) string {
		out, err := elb.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(listener), Priority: aws.Int32(prio), Actions: fwd(100, 0),
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/*"}}}})
		if err != nil {
			e.t.Fatal(err)
		}
		return aws.ToString(out.Rules[0].RuleArn)
	}
	w.prodRule, w.testRule = mkRule(mkListener(80), 1), mkRule(mkListener(8080), 1)
	w.tgAFull, w.tgBFull = w.tgA[strings.LastIndex(w.tgA, ":")+1:], w.tgB[strings.LastIndex(w.tgB, ":")+1:]
	w.lbFull = w.lbArn[strings.Index(w.lbArn, ":loadbalancer/")+len(":loadbalancer/"):]

	im := iam.NewFromConfig(e.cfg)
	mkRole := func(name string) string {
		out, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(ecsTrust)})
		if err != nil {
			e.t.Fatal(err)
		}
		return aws.ToString(out.Role.Arn)
	}
	w.lbRole, w.hookRole = mkRole("web-ecs-lb"), mkRole("web-ecs-hook")
	if _, err := im.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("web-ecs-lb"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers")}); err != nil {
		e.t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	fw, _ := zw.Create("bootstrap")
	_, _ = fw.Write([]byte("#!/bin/sh\n"))
	_ = zw.Close()
	fn, err := lambda.NewFromConfig(e.cfg).CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("greenlight-smoketest"),
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Role: aws.String(w.hookRole),
		Code: &lambdatypes.FunctionCode{ZipFile: zbuf.Bytes()}})
	if err != nil {
		e.t.Fatal(err)
	}
	w.hookFn = aws.ToString(fn.FunctionArn)

	dims := func(tg string) []cwtypes.Dimension {
		return []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(w.lbFull)}, {Name: aws.String("TargetGroup"), Value: aws.String(tg)}}
	}
	stat := func(id, metric, tg string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(60), Stat: aws.String("Sum"),
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric), Dimensions: dims(tg)}}}
	}
	e.putAlarm("web-5xx-rate", []cwtypes.MetricDataQuery{
		stat("e1", "HTTPCode_Target_5XX_Count", w.tgAFull), stat("e2", "HTTPCode_Target_5XX_Count", w.tgBFull),
		stat("r1", "RequestCount", w.tgAFull), stat("r2", "RequestCount", w.tgBFull),
		{Id: aws.String("rate"), ReturnData: aws.Bool(true), Expression: aws.String("IF((FILL(r1,0)+FILL(r2,0)) > 0, 100*(FILL(e1,0)+FILL(e2,0))/(FILL(r1,0)+FILL(r2,0)), 0)"), Label: aws.String("5xx rate %")},
	})

	ec := ecs.NewFromConfig(e.cfg)
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		e.t.Fatal(err)
	}
	td, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: ecstypes.NetworkModeAwsvpc,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("web:v1.2.2"), Memory: aws.Int32(128),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = ec.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"), DesiredCount: aws.Int32(2),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		LoadBalancers: []ecstypes.LoadBalancer{{ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080), TargetGroupArn: aws.String(w.tgA),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(w.tgB), ProductionListenerRule: aws.String(w.prodRule),
				TestListenerRule: aws.String(w.testRule), RoleArn: aws.String(w.lbRole)}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.setDeploymentConfiguration(&ecstypes.DeploymentConfiguration{
		Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
		Alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{"web-5xx-rate"}, Enable: true, Rollback: true},
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: aws.String(w.hookFn), RoleArn: aws.String(w.hookRole),
			LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostScaleUp, ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift}}},
	})

	e.pushImage("web", "v1.2.2", manifestV122)
	sm := e.stateMachine()
	e.putRule(`{"source":["aws.ecr"],"detail-type":["ECR Image Action"],"detail":{"action-type":["PUSH"],"result":["SUCCESS"],"repository-name":["web"],"image-tag":[{"exists":true}]}}`, sm)
	return w
}

func (e *env) setDeploymentConfiguration(dc *ecstypes.DeploymentConfiguration) {
	e.t.Helper()
	if _, err := ecs.NewFromConfig(e.cfg).UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DeploymentConfiguration: dc}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putAlarm(name string, metrics []cwtypes.MetricDataQuery) {
	e.t.Helper()
	cwc, err := awsenv.CloudWatch(e.cfg, func(string) string { return "query" })
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := cwc.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		Threshold: aws.Float64(5), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2), Metrics: metrics, TreatMissingData: aws.String("notBreaching")}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putRule(pattern, target string) {
	e.t.Helper()
	eb := eventbridge.NewFromConfig(e.cfg)
	ctx := context.Background()
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("greenlight-EcrPush"), EventPattern: aws.String(pattern), State: ebtypes.RuleStateEnabled}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("greenlight-EcrPush"), Targets: []ebtypes.Target{{Id: aws.String("deploy"), Arn: aws.String(target),
		RoleArn: aws.String(fmt.Sprintf("arn:aws:iam::%s:role/greenlight-events", e.account))}}}); err != nil {
		e.t.Fatal(err)
	}
}
