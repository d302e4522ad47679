package ecsemu

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// Fixed ARNs of the standalone tests' load balancer (ELBv2 is not consulted there).
const (
	tgA      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/1111111111111111"
	tgB      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/2222222222222222"
	prodRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/3333333333333333/4444444444444444/5555555555555555"
	testRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/3333333333333333/6666666666666666/7777777777777777"
	hookArn  = "arn:aws:lambda:us-east-1:123456789012:function:web-smoke-test"
	lbName   = "app/web/3333333333333333"
)

var (
	testappOnce sync.Once
	testappPath string
	testappErr  error
)

// testapp builds testdata/testapp once, into a cache directory keyed by its source.
func testapp(t testing.TB) string {
	t.Helper()
	testappOnce.Do(func() {
		src, err := os.ReadFile(filepath.Join("testdata", "testapp", "main.go"))
		if err != nil {
			testappErr = err
			return
		}
		sum := sha256.Sum256(src)
		dir := filepath.Join(os.TempDir(), "greenlight-ecsemu-testapp")
		out := filepath.Join(dir, "testapp-"+hex.EncodeToString(sum[:6]))
		if _, err := os.Stat(out); err == nil {
			testappPath = out
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			testappErr = err
			return
		}
		tmp := out + fmt.Sprintf(".%d", os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./testdata/testapp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			testappErr = fmt.Errorf("build testapp: %v: %s", err, b)
			return
		}
		testappErr = os.Rename(tmp, out)
		testappPath = out
	})
	if testappErr != nil {
		t.Fatal(testappErr)
	}
	return testappPath
}

// randomBase picks a loopback range of its own for the test, away from other test binaries.
func randomBase() string {
	return fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250))
}

// hookScript decides a hook's answer. call counts this hook's invocations at this stage
// (forward and rollback separately), from 1.
type hookScript func(ev hookEvent, rollback bool, call int) string

// harness is one emulator (standalone unless moto is given) with an ECS client on it.
type harness struct {
	t      testing.TB
	em     *Emulator
	ecs    *ecs.Client
	ctx    context.Context
	script atomic.Pointer[hookScript]
	calls  map[string]int
	mu     sync.Mutex
	events []Event
	cw     *fakeCW
}

type harnessOpts struct {
	upstream string
	aws      *aws.Config
	cw       CloudWatchAPI
	choices  Choices
	scale    float64
	tgs      map[string]TargetGroupConfig
}

func fastTGs() map[string]TargetGroupConfig {
	c := TargetGroupConfig{HealthCheckPath: "/health", HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2,
		HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, DeregistrationDelaySeconds: 30}
	return map[string]TargetGroupConfig{tgA: c, tgB: c}
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, calls: map[string]int{}}
	ok := hookScript(func(hookEvent, bool, int) string { return `{"hookStatus":"SUCCEEDED"}` })
	h.script.Store(&ok)
	if o.scale == 0 {
		o.scale = 0.01
	}
	if o.tgs == nil {
		o.tgs = fastTGs()
	}
	opts := Options{
		Upstream:        o.upstream,
		AWS:             o.aws,
		CloudWatch:      o.cw,
		TimeScale:       o.scale,
		TargetGroups:    o.tgs,
		TaskAddressBase: randomBase(),
		Runner:          Images{"*": {Path: testapp(t)}},
		Choices:         o.choices,
		Invoker:         HookFunc(h.invoke),
		OnEvent: func(ev Event) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		},
	}
	if fc, ok := o.cw.(*fakeCW); ok {
		h.cw = fc
	}
	em, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.em = em
	t.Cleanup(func() {
		if err := em.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Retries as the Lambdas have them (awsenv.MaxAttempts): aws-sdk-go-v2 now and then
	// fails to read a 200 response with "use of closed network connection" (its issues
	// #1825, #2737) and retries that.
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		RetryMaxAttempts: 3,
	}
	if o.aws != nil {
		cfg = o.aws.Copy()
		cfg.RetryMaxAttempts = 3
	}
	h.ecs = ecs.NewFromConfig(cfg, func(opt *ecs.Options) { opt.BaseEndpoint = aws.String(em.URL()) })
	return h
}

func (h *harness) setScript(s hookScript) { h.script.Store(&s) }

func (h *harness) invoke(ctx context.Context, arn string, payload []byte) ([]byte, error) {
	var ev hookEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	p := ev.ExecutionDetails.ProductionTrafficWeights
	t := ev.ExecutionDetails.TestTrafficWeights
	green := ev.ExecutionDetails.TargetServiceRevisionArn
	// A rollback re-invocation (reference §2.4) is a traffic-shift stage whose weights point
	// back at blue. PRE_PRODUCTION_TRAFFIC_SHIFT also sends {green:0, blue:100}, so the
	// stage must be part of the test (the §2.7 skeleton's check alone would misread it).
	rollback := (ev.LifecycleStage == StageProductionTrafficShift && len(p) > 1 && p[green] == 0) ||
		(ev.LifecycleStage == StageTestTrafficShift && len(t) > 1 && t[green] == 0)
	key := fmt.Sprintf("%s|%s|%v", arn, ev.LifecycleStage, rollback)
	h.mu.Lock()
	h.calls[key]++
	n := h.calls[key]
	h.mu.Unlock()
	return []byte((*h.script.Load())(ev, rollback, n)), nil
}

// svcSpec describes the service a test creates.
type svcSpec struct {
	name      string
	desired   int32
	bake      int32
	hooks     []ecstypes.DeploymentLifecycleHook
	alarms    *ecstypes.DeploymentAlarms
	cb        *ecstypes.DeploymentCircuitBreaker
	blueEnv   map[string]string
	tgA, tgB  string
	prod, tst string
	// strategy is BLUE_GREEN unless set; linear and canary go with LINEAR and CANARY.
	strategy ecstypes.DeploymentStrategy
	linear   *ecstypes.LinearConfiguration
	canary   *ecstypes.CanaryConfiguration
}

func (h *harness) registerTD(family string, env map[string]string) string {
	h.t.Helper()
	var kv []ecstypes.KeyValuePair
	for k, v := range env {
		kv = append(kv, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	out, err := h.ecs.RegisterTaskDefinition(h.ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("111122223333.dkr.ecr.us-east-1.amazonaws.com/web@sha256:" + fmt.Sprintf("%064x", rand.Uint64())),
			Essential: aws.Bool(true), Environment: kv,
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	})
	if err != nil {
		h.t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	return *out.TaskDefinition.TaskDefinitionArn
}

// create makes the cluster, registers the blue task definition and creates the service;
// it waits until the first deployment is SUCCESSFUL.
func (h *harness) create(spec svcSpec) (cluster, name string) {
	h.t.Helper()
	if spec.name == "" {
		spec.name = "web"
	}
	if spec.desired == 0 {
		spec.desired = 2
	}
	if spec.blueEnv == nil {
		spec.blueEnv = map[string]string{"VERSION": "blue"}
	}
	if spec.tgA == "" {
		spec.tgA, spec.tgB, spec.prod, spec.tst = tgA, tgB, prodRule, testRule
	}
	if _, err := h.ecs.CreateCluster(h.ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		h.t.Fatalf("CreateCluster: %v", err)
	}
	td := h.registerTD("web", spec.blueEnv)
	out, err := h.ecs.CreateService(h.ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String(spec.name), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(spec.desired), LaunchType: ecstypes.LaunchTypeFargate,
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{
			Strategy: cmp.Or(spec.strategy, ecstypes.DeploymentStrategyBlueGreen), BakeTimeInMinutes: aws.Int32(spec.bake),
			LinearConfiguration: spec.linear, CanaryConfiguration: spec.canary,
			LifecycleHooks: spec.hooks, Alarms: spec.alarms, DeploymentCircuitBreaker: spec.cb,
			MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(100),
		},
		LoadBalancers: []ecstypes.LoadBalancer{{
			TargetGroupArn: aws.String(spec.tgA), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{
				AlternateTargetGroupArn: aws.String(spec.tgB), ProductionListenerRule: aws.String(spec.prod),
				TestListenerRule: aws.String(spec.tst), RoleArn: aws.String("arn:aws:iam::123456789012:role/ecs-lb"),
			},
		}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-0123456789abcdef0"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
	})
	if err != nil {
		h.t.Fatalf("CreateService: %v", err)
	}
	first := aws.ToString(out.Service.CurrentServiceDeployment)
	if first == "" {
		h.t.Fatal("CreateService: no currentServiceDeployment")
	}
	r := h.wait(first)
	if r.Status != StatusSuccessful {
		h.t.Fatalf("first deployment ended %s: %s", r.Status, r.StatusReason)
	}
	return "prod", spec.name
}

// deploy registers a new task definition with env and calls UpdateService with it only,
// as greenlight does; it returns the new service deployment's ARN.
func (h *harness) deploy(name string, env map[string]string) string {
	h.t.Helper()
	td := h.registerTD("web", env)
	out, err := h.ecs.UpdateService(h.ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String(name), TaskDefinition: aws.String(td)})
	if err != nil {
		h.t.Fatalf("UpdateService: %v", err)
	}
	arn := aws.ToString(out.Service.CurrentServiceDeployment)
	if arn == "" {
		h.t.Fatal("UpdateService: no currentServiceDeployment")
	}
	if got := aws.ToString(out.Service.TaskDefinition); got != td {
		h.t.Errorf("UpdateService answer taskDefinition = %s, want %s", got, td)
	}
	return arn
}

func (h *harness) wait(arn string) DeploymentReport {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 45*time.Second)
	defer cancel()
	r, err := h.em.WaitDeployment(ctx, arn)
	if err != nil {
		h.t.Fatalf("%v (stages %v, statuses %v)", err, r.StageNames(), r.StatusNames())
	}
	return r
}

func (h *harness) describe(arn string) ecstypes.ServiceDeployment {
	h.t.Helper()
	out, err := h.ecs.DescribeServiceDeployments(h.ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		h.t.Fatalf("DescribeServiceDeployments: %v", err)
	}
	if len(out.ServiceDeployments) != 1 {
		h.t.Fatalf("DescribeServiceDeployments(%s): %d deployments, failures %+v", arn, len(out.ServiceDeployments), out.Failures)
	}
	return out.ServiceDeployments[0]
}

// load sends requests to url until stop is closed and counts answers by body and failures.
type load struct {
	mu       sync.Mutex
	served   int
	failed   int
	bodies   map[string]int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func startLoad(url string) *load {
	l := &load{bodies: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			resp, err := client.Get(url + "/")
			l.mu.Lock()
			if err != nil {
				l.failed++
				l.failures = append(l.failures, err.Error())
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					l.failed++
					l.failures = append(l.failures, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b)))
				} else {
					l.served++
					l.bodies[string(b)]++
				}
			}
			l.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) finish() (served, failed int, bodies map[string]int, failures []string) {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.served, l.failed, l.bodies, l.failures
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func lambdaHook(stages ...ecstypes.DeploymentLifecycleHookStage) ecstypes.DeploymentLifecycleHook {
	return ecstypes.DeploymentLifecycleHook{
		HookTargetArn:   aws.String(hookArn),
		RoleArn:         aws.String("arn:aws:iam::123456789012:role/ecs-hook-invoke"),
		LifecycleStages: stages,
	}
}

// fakeCW is an in-memory CloudWatch: alarms with states, datapoints recorded.
type fakeCW struct {
	mu     sync.Mutex
	alarms map[string]*cwtypes.MetricAlarm
	data   []cwtypes.MetricDatum
	sets   []string
}

func newFakeCW(alarms ...cwtypes.MetricAlarm) *fakeCW {
	f := &fakeCW{alarms: map[string]*cwtypes.MetricAlarm{}}
	for i := range alarms {
		a := alarms[i]
		if a.StateValue == "" {
			a.StateValue = cwtypes.StateValueInsufficientData
		}
		f.alarms[*a.AlarmName] = &a
	}
	return f
}

func (f *fakeCW) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, in.MetricData...)
	return &cloudwatch.PutMetricDataOutput{}, nil
}

func (f *fakeCW) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &cloudwatch.DescribeAlarmsOutput{}
	for name, a := range f.alarms {
		if len(in.AlarmNames) > 0 && !contains(in.AlarmNames, name) {
			continue
		}
		out.MetricAlarms = append(out.MetricAlarms, *a)
	}
	return out, nil
}

func (f *fakeCW) SetAlarmState(ctx context.Context, in *cloudwatch.SetAlarmStateInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.SetAlarmStateOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.alarms[*in.AlarmName]
	if a == nil {
		return nil, fmt.Errorf("ResourceNotFound: alarm %s", *in.AlarmName)
	}
	a.StateValue, a.StateReason = in.StateValue, in.StateReason
	f.sets = append(f.sets, *in.AlarmName+"="+string(in.StateValue))
	return &cloudwatch.SetAlarmStateOutput{}, nil
}

func (f *fakeCW) state(name string) cwtypes.StateValue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alarms[name].StateValue
}

// rateAlarm is reference/ecs-bluegreen.md §6's 5xx-rate alarm over both target groups, with
// one period and one datapoint so a test trips it within a bucket.
func rateAlarm(name, lb, tga, tgb string) cwtypes.MetricAlarm {
	stat := func(id, metric, tg string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{
			Period: aws.Int32(60), Stat: aws.String("Sum"), Metric: &cwtypes.Metric{
				Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(lb)}, {Name: aws.String("TargetGroup"), Value: aws.String(tgFullName(tg))}},
			}}}
	}
	return cwtypes.MetricAlarm{
		AlarmName: aws.String(name), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		Threshold: aws.Float64(5), EvaluationPeriods: aws.Int32(1), DatapointsToAlarm: aws.Int32(1),
		TreatMissingData: aws.String("notBreaching"), StateReason: aws.String("Unchecked: Initial alarm creation"),
		StateValue: cwtypes.StateValueOk,
		Metrics: []cwtypes.MetricDataQuery{
			stat("e1", "HTTPCode_Target_5XX_Count", tga), stat("e2", "HTTPCode_Target_5XX_Count", tgb),
			stat("r1", "RequestCount", tga), stat("r2", "RequestCount", tgb),
			{Id: aws.String("err"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(e1,0) + FILL(e2,0)")},
			{Id: aws.String("req"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(r1,0) + FILL(r2,0)")},
			{Id: aws.String("rate"), ReturnData: aws.Bool(true), Label: aws.String("5xx rate %"), Expression: aws.String("IF(req > 0, 100 * err / req, 0)")},
		},
	}
}
