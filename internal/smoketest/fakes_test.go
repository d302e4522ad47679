package smoketest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// The ARNs of the sample events (events/smoketest).
const (
	acct        = "111122223333"
	sdARN       = "arn:aws:ecs:eu-west-1:" + acct + ":service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28"
	serviceARN  = "arn:aws:ecs:eu-west-1:" + acct + ":service/prod/web"
	greenRevARN = "arn:aws:ecs:eu-west-1:" + acct + ":service-revision/prod/web/9313423515462893900"
	blueRevARN  = "arn:aws:ecs:eu-west-1:" + acct + ":service-revision/prod/web/1920498462936580504"
	greenTD     = "arn:aws:ecs:eu-west-1:" + acct + ":task-definition/web:43"
	blueTD      = "arn:aws:ecs:eu-west-1:" + acct + ":task-definition/web:42"
	testRuleARN = "arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":listener-rule/app/web-alb/1111111111111111/4444444444444444/5555555555555555"
	testLsnARN  = "arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":listener/app/web-alb/1111111111111111/4444444444444444"
	albARN      = "arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":loadbalancer/app/web-alb/1111111111111111"
)

// fakeECS answers from a canned service: one green revision, one deployment, tasks. It
// records the calls it gets.
type fakeECS struct {
	mu        sync.Mutex
	calls     []string
	revision  ecstypes.ServiceRevision
	deploy    ecstypes.ServiceDeployment
	tasks     []ecstypes.Task
	taskDef   *ecstypes.TaskDefinition
	errs      map[string]error // by operation name
	pageLimit int              // ListTasks page size; 0 = all at once
}

func newFakeECS() *fakeECS {
	return &fakeECS{
		revision: ecstypes.ServiceRevision{
			ServiceRevisionArn: aws.String(greenRevARN),
			ServiceArn:         aws.String(serviceARN),
			TaskDefinition:     aws.String(greenTD),
			LoadBalancers: []ecstypes.LoadBalancer{{
				ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080),
				TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":targetgroup/web-a/0123456789abcdef"),
				AdvancedConfiguration: &ecstypes.AdvancedConfiguration{
					AlternateTargetGroupArn: aws.String("arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":targetgroup/web-b/fedcba9876543210"),
					TestListenerRule:        aws.String(testRuleARN),
				},
			}},
			ResolvedConfiguration: &ecstypes.ResolvedConfiguration{LoadBalancers: []ecstypes.ServiceRevisionLoadBalancer{{
				TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:eu-west-1:" + acct + ":targetgroup/web-b/fedcba9876543210"),
			}}},
		},
		deploy: ecstypes.ServiceDeployment{
			ServiceDeploymentArn:   aws.String(sdARN),
			ServiceArn:             aws.String(serviceARN),
			Status:                 ecstypes.ServiceDeploymentStatusInProgress,
			TargetServiceRevision:  &ecstypes.ServiceRevisionSummary{Arn: aws.String(greenRevARN), RequestedTaskCount: 3},
			SourceServiceRevisions: []ecstypes.ServiceRevisionSummary{{Arn: aws.String(blueRevARN), RequestedTaskCount: 3, RunningTaskCount: 3}},
		},
		errs: map[string]error{},
	}
}

func (f *fakeECS) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	return f.errs[op]
}

func (f *fakeECS) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeECS) DescribeServiceRevisions(_ context.Context, in *ecs.DescribeServiceRevisionsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error) {
	if err := f.record("DescribeServiceRevisions"); err != nil {
		return nil, err
	}
	out := &ecs.DescribeServiceRevisionsOutput{}
	for _, a := range in.ServiceRevisionArns {
		if a == aws.ToString(f.revision.ServiceRevisionArn) {
			out.ServiceRevisions = append(out.ServiceRevisions, f.revision)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(a), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeServiceDeployments(_ context.Context, in *ecs.DescribeServiceDeploymentsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error) {
	if err := f.record("DescribeServiceDeployments"); err != nil {
		return nil, err
	}
	out := &ecs.DescribeServiceDeploymentsOutput{}
	for _, a := range in.ServiceDeploymentArns {
		if a == aws.ToString(f.deploy.ServiceDeploymentArn) {
			out.ServiceDeployments = append(out.ServiceDeployments, f.deploy)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(a), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	if err := f.record("ListTasks"); err != nil {
		return nil, err
	}
	if aws.ToString(in.Cluster) != "prod" || aws.ToString(in.ServiceName) != "web" || in.DesiredStatus != ecstypes.DesiredStatusRunning {
		return nil, fmt.Errorf("fake ListTasks: unexpected input cluster=%q service=%q status=%q", aws.ToString(in.Cluster), aws.ToString(in.ServiceName), in.DesiredStatus)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var arns []string
	for _, t := range f.tasks {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	start := 0
	if in.NextToken != nil {
		_, _ = fmt.Sscan(*in.NextToken, &start)
	}
	end := len(arns)
	if f.pageLimit > 0 && start+f.pageLimit < end {
		end = start + f.pageLimit
	}
	out := &ecs.ListTasksOutput{TaskArns: arns[start:end]}
	if end < len(arns) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func (f *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	if err := f.record("DescribeTasks"); err != nil {
		return nil, err
	}
	if len(in.Tasks) > 100 {
		return nil, fmt.Errorf("fake DescribeTasks: %d tasks, the API takes at most 100", len(in.Tasks))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeTasksOutput{}
	for _, a := range in.Tasks {
		for _, t := range f.tasks {
			if aws.ToString(t.TaskArn) == a {
				out.Tasks = append(out.Tasks, t)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	if err := f.record("DescribeTaskDefinition"); err != nil {
		return nil, err
	}
	if f.taskDef == nil || aws.ToString(in.TaskDefinition) != greenTD {
		return nil, fmt.Errorf("fake DescribeTaskDefinition: no %s", aws.ToString(in.TaskDefinition))
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: f.taskDef}, nil
}

// setTasks replaces the service's tasks: green ones at ips (RUNNING), plus blue ones.
func (f *fakeECS) setTasks(green []string, blue ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = nil
	for i, ip := range green {
		f.tasks = append(f.tasks, task(fmt.Sprintf("g%02d", i), greenTD, "RUNNING", ip))
	}
	for i, ip := range blue {
		f.tasks = append(f.tasks, task(fmt.Sprintf("b%02d", i), blueTD, "RUNNING", ip))
	}
}

func task(id, td, status, ip string) ecstypes.Task {
	t := ecstypes.Task{
		TaskArn:           aws.String("arn:aws:ecs:eu-west-1:" + acct + ":task/prod/" + id),
		TaskDefinitionArn: aws.String(td),
		LastStatus:        aws.String(status),
	}
	if ip != "" {
		t.Attachments = []ecstypes.Attachment{{
			Type: aws.String("ElasticNetworkInterface"),
			Details: []ecstypes.KeyValuePair{
				{Name: aws.String("subnetId"), Value: aws.String("subnet-0abc")},
				{Name: aws.String("privateIPv4Address"), Value: aws.String(ip)},
			},
		}}
	}
	return t
}

// fakeELB is one ALB with a test listener and its rule.
type fakeELB struct {
	mu    sync.Mutex
	calls []string
	rule  elbtypes.Rule
	dns   string
	port  int32
	proto elbtypes.ProtocolEnum
	errs  map[string]error
}

func newFakeELB(dns string, port int) *fakeELB {
	return &fakeELB{
		rule: elbtypes.Rule{RuleArn: aws.String(testRuleARN), Priority: aws.String("1"), Conditions: []elbtypes.RuleCondition{{
			Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/*"}},
		}}},
		dns: dns, port: int32(port), proto: elbtypes.ProtocolEnumHttp, errs: map[string]error{},
	}
}

func (f *fakeELB) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	return f.errs[op]
}

func (f *fakeELB) DescribeRules(_ context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	if err := f.record("DescribeRules"); err != nil {
		return nil, err
	}
	if len(in.RuleArns) != 1 || in.RuleArns[0] != testRuleARN {
		return nil, fmt.Errorf("fake DescribeRules: unexpected %v", in.RuleArns)
	}
	return &elbv2.DescribeRulesOutput{Rules: []elbtypes.Rule{f.rule}}, nil
}

func (f *fakeELB) DescribeListeners(_ context.Context, in *elbv2.DescribeListenersInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error) {
	if err := f.record("DescribeListeners"); err != nil {
		return nil, err
	}
	if len(in.ListenerArns) != 1 || in.ListenerArns[0] != testLsnARN {
		return nil, fmt.Errorf("fake DescribeListeners: unexpected %v", in.ListenerArns)
	}
	return &elbv2.DescribeListenersOutput{Listeners: []elbtypes.Listener{{
		ListenerArn: aws.String(testLsnARN), LoadBalancerArn: aws.String(albARN), Port: aws.Int32(f.port), Protocol: f.proto,
	}}}, nil
}

func (f *fakeELB) DescribeLoadBalancers(_ context.Context, in *elbv2.DescribeLoadBalancersInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	if err := f.record("DescribeLoadBalancers"); err != nil {
		return nil, err
	}
	if len(in.LoadBalancerArns) != 1 || in.LoadBalancerArns[0] != albARN {
		return nil, fmt.Errorf("fake DescribeLoadBalancers: unexpected %v", in.LoadBalancerArns)
	}
	return &elbv2.DescribeLoadBalancersOutput{LoadBalancers: []elbtypes.LoadBalancer{{
		LoadBalancerArn: aws.String(albARN), DNSName: aws.String(f.dns), Scheme: elbtypes.LoadBalancerSchemeEnumInternal,
	}}}, nil
}

// fakeRoutes serves a routes document parsed from YAML or JSON.
type fakeRoutes struct {
	doc *routes.Document
	err error
}

func (f *fakeRoutes) Load(context.Context) (*routes.Document, error) { return f.doc, f.err }

// fakeEvidence keeps what the hook stores, like the ledger's SMOKE#<stage> items.
type fakeEvidence struct {
	mu    sync.Mutex
	items map[string][]result.CheckEvidence // "<arn>|<stage>"
	err   error
}

func (f *fakeEvidence) PutSmokeEvidence(_ context.Context, arn, stage string, checks []result.CheckEvidence) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.items == nil {
		f.items = map[string][]result.CheckEvidence{}
	}
	f.items[arn+"|"+stage] = append([]result.CheckEvidence(nil), checks...)
	return nil
}

func (f *fakeEvidence) get(arn, stage string) []result.CheckEvidence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[arn+"|"+stage]
}

// app is a fake green task's HTTP server behaviour.
type app struct {
	mu       sync.Mutex
	status   int
	body     string
	delay    time.Duration
	requests []*http.Request
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Clone(context.Background()))
	status, body, delay := a.status, a.body, a.delay
	a.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (a *app) hits() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

func (a *app) set(status int, body string, delay time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.body, a.delay = status, body, delay
}

// fleet is n fake green tasks, each on its own loopback address (127.77.<k>.2 …) and the
// same port, as awsvpc tasks each have their own IP and listen on the container port.
type fleet struct {
	ips     []string
	port    int
	apps    []*app
	servers []*httptest.Server
}

var subnet struct {
	sync.Mutex
	next int
}

// newFleet starts n tasks; the ones listed in down get an address but no server yet
// (connection refused until start(i)).
func newFleet(t testing.TB, n int, down ...int) *fleet {
	t.Helper()
	subnet.Lock()
	subnet.next++
	k := subnet.next
	subnet.Unlock()
	for try := 0; try < 20; try++ {
		f := &fleet{}
		for i := 0; i < n; i++ {
			f.ips = append(f.ips, fmt.Sprintf("127.77.%d.%d", k, i+2))
			f.apps = append(f.apps, &app{status: 200, body: "OK"})
			f.servers = append(f.servers, nil)
		}
		l, err := net.Listen("tcp", f.ips[0]+":0")
		if err != nil {
			t.Fatalf("listen on %s: %v (tests need the 127.0.0.0/8 loopback range)", f.ips[0], err)
		}
		f.port = l.Addr().(*net.TCPAddr).Port
		ok := true
		ls := []net.Listener{l}
		for i := 1; i < n; i++ {
			li, err := net.Listen("tcp", fmt.Sprintf("%s:%d", f.ips[i], f.port))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, li)
		}
		if !ok {
			for _, l := range ls {
				l.Close()
			}
			continue
		}
		for i, l := range ls {
			if contains(intStrings(down), fmt.Sprint(i)) {
				l.Close()
				continue
			}
			f.serve(i, l)
		}
		t.Cleanup(f.close)
		return f
	}
	t.Fatal("no common free port for the fake tasks")
	return nil
}

func intStrings(xs []int) []string {
	var out []string
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func (f *fleet) serve(i int, l net.Listener) {
	s := httptest.NewUnstartedServer(f.apps[i])
	s.Listener.Close()
	s.Listener = l
	s.Start()
	f.servers[i] = s
}

// start brings up task i's server (it was down).
func (f *fleet) start(t testing.TB, i int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", f.ips[i], f.port))
	if err != nil {
		t.Fatalf("start task %d: %v", i, err)
	}
	f.serve(i, l)
}

func (f *fleet) close() {
	for _, s := range f.servers {
		if s != nil {
			s.Close()
		}
	}
}

func (f *fleet) addr(i int) string { return fmt.Sprintf("%s:%d", f.ips[i], f.port) }

// harness is a handler wired to fakes.
type harness struct {
	ecs      *fakeECS
	elb      *fakeELB
	routes   *fakeRoutes
	evidence *fakeEvidence
	logs     *syncBuffer
	h        *Handler
	now      func() time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// verdictLogs returns the "hook verdict" log records.
func (s *syncBuffer) verdicts(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "hook verdict" {
			out = append(out, m)
		}
	}
	return out
}

// routeDoc is the test route for prod/web with the given smokeTests YAML (indented under
// smokeTests:), or none when smoke is "".
func routeDoc(t testing.TB, smoke string) *routes.Document {
	t.Helper()
	y := "version: 1\nroutes:\n  - name: web-prod\n    repository: web\n    tagPattern: '.*'\n    targets: [{cluster: prod, service: web, container: app}]\n"
	if smoke != "" {
		y += "    smokeTests:\n"
		for _, l := range strings.Split(strings.TrimRight(smoke, "\n"), "\n") {
			y += "      " + l + "\n"
		}
	}
	d, err := routes.Parse([]byte(y))
	if err != nil {
		t.Fatalf("test route: %v\n%s", err, y)
	}
	return d
}

const healthCheck = `checks: [{name: health, path: /health, expectStatus: 200, bodyContains: OK, maxLatencyMs: 300, timeoutMs: 2000}]`

func newHarness(t testing.TB, doc *routes.Document) *harness {
	t.Helper()
	hs := &harness{
		ecs:      newFakeECS(),
		routes:   &fakeRoutes{doc: doc},
		evidence: &fakeEvidence{},
		logs:     &syncBuffer{},
		now:      time.Now,
	}
	hs.build()
	return hs
}

func (hs *harness) build() {
	d := Deps{
		ECS: hs.ecs, Routes: hs.routes, Evidence: hs.evidence,
		Logger:          slog.New(slog.NewJSONHandler(hs.logs, nil)),
		Now:             func() time.Time { return hs.now() },
		RoutesParameter: "/greenlight/routes",
	}
	if hs.elb != nil {
		d.ELB = hs.elb
	}
	hs.h = New(Config{RoutesParameter: "/greenlight/routes", LedgerTable: "ledger", TimeScale: 1}, d)
}

// invoke calls the handler with ev marshalled to JSON, as the Lambda runtime does, within a
// 30 s deadline like a Lambda function's.
func (hs *harness) invoke(t testing.TB, ev HookEvent) HookResponse {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := hs.h.Handle(ctx, raw)
	if err != nil {
		t.Fatalf("Handle returned an error (it must never): %v", err)
	}
	if resp.HookStatus == "" {
		t.Fatal("response without hookStatus")
	}
	return resp
}

// event builds a hook event for the sample service at stage with raw hookDetails.
func event(stage, hookDetails string) HookEvent {
	ev := HookEvent{
		ExecutionID:    "2f0b6a8e-4c1d-4d1e-9d5a-7c1f0e3b9a10",
		LifecycleStage: stage,
		ResourceArn:    sdARN,
		ExecutionDetails: ExecutionDetails{
			ServiceArn: serviceARN, TargetServiceRevisionArn: greenRevARN,
			TestTrafficWeights: map[string]float64{}, ProductionTrafficWeights: map[string]float64{},
		},
	}
	if hookDetails != "" {
		ev.HookDetails = json.RawMessage(hookDetails)
	}
	return ev
}

// merge does what ECS does with an IN_PROGRESS answer's hookDetails: merges them into the
// next call's (static) hookDetails.
func merge(t testing.TB, static string, resp HookResponse) string {
	t.Helper()
	m := map[string]any{}
	if static != "" {
		if err := json.Unmarshal([]byte(static), &m); err != nil {
			t.Fatal(err)
		}
	}
	if resp.HookDetails != nil {
		b, _ := json.Marshal(resp.HookDetails)
		var ret map[string]any
		_ = json.Unmarshal(b, &ret)
		for k, v := range ret {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}
