package samtemplate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

const (
	module  = "github.com/greenlight-deploy/greenlight"
	root    = "../.."
	smID    = "DeployStateMachine"
	ruleID  = "DeployStateMachineEcrPush"
	account = "111122223333"
)

var (
	once       sync.Once
	translated *samtemplate.Template
	loadErr    error
)

func tpl(t *testing.T) *samtemplate.Template {
	t.Helper()
	once.Do(func() {
		translated, loadErr = samtemplate.Load(context.Background(), filepath.Join(root, "template.yaml"))
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return translated
}

// vals resolves every intrinsic with made-up physical IDs.
func vals(params map[string]any) samtemplate.Values {
	base := map[string]any{"Repository": "web", "ClusterName": "prod", "ServiceName": "web",
		"TaskRoleArns": "arn:aws:iam::" + account + ":role/web-task,arn:aws:iam::" + account + ":role/web-exec"}
	for k, v := range params {
		base[k] = v
	}
	return samtemplate.Values{
		Parameters: base,
		Pseudo:     samtemplate.DefaultPseudo(account, "eu-west-1", "greenlight"),
		Ref:        func(id string) (any, bool) { return "ref:" + id, true },
		GetAtt:     func(id, attr string) (any, bool) { return "arn:aws:test:::" + id + "/" + attr, true },
	}
}

func TestRuleTargetsStateMachine(t *testing.T) {
	tp := tpl(t)
	rule := tp.Resources[ruleID]
	if rule.Type != "AWS::Events::Rule" {
		t.Fatalf("%s is %q; want the state machine's EventBridge rule", ruleID, rule.Type)
	}
	targets, _ := rule.Properties["Targets"].([]any)
	if len(targets) != 1 || !reflect.DeepEqual(targets[0].(map[string]any)["Arn"], map[string]any{"Ref": smID}) {
		t.Fatalf("rule targets = %v; want exactly the state machine", targets)
	}
	for _, tc := range []struct {
		repos string
		want  []any
	}{{"", []any{"web"}}, {"web,api", []any{"web", "api"}}} {
		raw, err := tp.RulePattern(ruleID, vals(map[string]any{"RepositoryNames": tc.repos}))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Source     []string `json:"source"`
			DetailType []string `json:"detail-type"`
			Detail     map[string][]any
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.Source[0] != "aws.ecr" || p.DetailType[0] != "ECR Image Action" || p.Detail["action-type"][0] != "PUSH" ||
			p.Detail["result"][0] != "SUCCESS" || !reflect.DeepEqual(p.Detail["repository-name"], tc.want) ||
			!reflect.DeepEqual(p.Detail["image-tag"], []any{map[string]any{"exists": true}}) {
			t.Errorf("RepositoryNames=%q: pattern %s", tc.repos, raw)
		}
	}
}

func TestDefinitionSubstitutions(t *testing.T) {
	tp := tpl(t)
	sm := tp.Resources[smID]
	subs, _ := sm.Properties["DefinitionSubstitutions"].(map[string]any)
	raw, err := os.ReadFile(filepath.Join(root, "statemachine", "deploy.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	used := samtemplate.Placeholders(string(raw))
	var given []string
	for k := range subs {
		given = append(given, k)
	}
	sort.Strings(given)
	if !reflect.DeepEqual(used, given) {
		t.Fatalf("placeholders in the ASL %v; substitutions %v: each must have the other", used, given)
	}
	def, err := tp.StateMachineDefinition(smID, vals(nil))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(def), &v); err != nil || strings.Contains(def, "${") {
		t.Fatalf("rendered definition is not clean JSON: %v", err)
	}
	if !strings.Contains(def, "arn:aws:states:eu-west-1:"+account+":stateMachine:greenlight-deploy") {
		t.Error("DeployStateMachineArn does not render to the state machine's own ARN (name <stack>-deploy)")
	}
	props, _ := tp.ResolvedProperties(smID, vals(nil))
	if props["StateMachineName"] != "greenlight-deploy" || props["StateMachineType"] != "STANDARD" {
		t.Errorf("state machine name/type = %v/%v", props["StateMachineName"], props["StateMachineType"])
	}
	if tc, _ := props["TracingConfiguration"].(map[string]any); tc["Enabled"] != true {
		t.Error("state machine tracing is off")
	}
	if lc, _ := props["LoggingConfiguration"].(map[string]any); lc["Destinations"] == nil {
		t.Error("state machine has no log destination")
	}
}

var wantFunctions = map[string]string{
	"ResolveFunction": "functions/resolve", "LockFunction": "functions/lock", "StartFunction": "functions/start",
	"CheckFunction": "functions/check", "WatchFunction": "functions/watch", "FinalizeFunction": "functions/finalize",
	"SmokeTestFunction": "functions/smoketest", "NotifyFunction": "functions/notify",
	"ReconcileFunction": "functions/reconcile",
}

func TestFunctions(t *testing.T) {
	tp := tpl(t)
	fns := tp.OfType("AWS::Lambda::Function")
	if len(fns) != len(wantFunctions) {
		t.Errorf("functions %v; want %d", fns, len(wantFunctions))
	}
	logGroups := map[string]bool{}
	for _, id := range tp.OfType("AWS::Logs::LogGroup") {
		if tp.Resources[id].Properties["RetentionInDays"] == nil {
			t.Errorf("log group %s has no retention", id)
		}
		logGroups[id] = true
	}
	for id, dir := range wantFunctions {
		r, ok := tp.Resources[id]
		if !ok {
			t.Errorf("no function %s", id)
			continue
		}
		p := r.Properties
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) ||
			p["MemorySize"] != 128.0 || r.Metadata["BuildMethod"] != "go1.x" {
			t.Errorf("%s: runtime %v handler %v arch %v memory %v build %v", id, p["Runtime"], p["Handler"], p["Architectures"], p["MemorySize"], r.Metadata["BuildMethod"])
		}
		if tc, _ := p["TracingConfig"].(map[string]any); tc["Mode"] != "Active" {
			t.Errorf("%s: tracing %v", id, p["TracingConfig"])
		}
		lc, _ := p["LoggingConfig"].(map[string]any)
		lg, _ := lc["LogGroup"].(map[string]any)
		if !logGroups[fmt60(lg["Ref"])] || lc["LogFormat"] != "JSON" {
			t.Errorf("%s: logging %v; want JSON into a log group with retention", id, lc)
		}
		if got := tp.CodeDir(id); got != dir {
			t.Errorf("%s: code %s; want %s", id, got, dir)
		}
		env, err := tp.FunctionEnvironment(id, vals(nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"LEDGER_TABLE", "ROUTES_PARAMETER", "GREENLIGHT_TIME_SCALE", "GREENLIGHT_POLL_MIN_SECONDS", "GREENLIGHT_POLL_MAX_SECONDS"} {
			if env[k] == "" {
				t.Errorf("%s: environment lacks %s", id, k)
			}
		}
	}
	if env, _ := tp.FunctionEnvironment("FinalizeFunction", vals(nil)); env["RESULT_TOPIC_ARN"] != "ref:ResultTopic" || env["EVENT_BUS_NAME"] == "" {
		t.Errorf("finalize environment %v", env)
	}
	if env, _ := tp.FunctionEnvironment("NotifyFunction", vals(nil)); env["CHAT_TOPIC_ARN"] != "ref:ChatTopic" || env["DLQ_URL"] != "ref:NotifyDLQ" {
		t.Errorf("notify environment %v", env)
	}
	// The hook runs in the VPC when subnets are given, and outside it otherwise.
	for _, tc := range []struct {
		subnets string
		want    bool
	}{{"subnet-a,subnet-b", true}, {"", false}} {
		p, err := tp.ResolvedProperties("SmokeTestFunction", vals(map[string]any{"HookSubnetIds": tc.subnets, "HookSecurityGroupIds": "sg-1"}))
		if err != nil {
			t.Fatal(err)
		}
		if _, has := p["VpcConfig"]; has != tc.want || p["Timeout"] != 60.0 {
			t.Errorf("HookSubnetIds=%q: VpcConfig %v timeout %v", tc.subnets, p["VpcConfig"], p["Timeout"])
		}
	}
	eic, _ := tp.ResolvedProperties("NotifyFunctionEventInvokeConfig", vals(nil))
	if eic["MaximumRetryAttempts"] != 2.0 || !strings.Contains(mustJSON(eic["DestinationConfig"]), "NotifyDLQ") {
		t.Errorf("notify async config %v", eic)
	}
}

func fmt60(v any) string { s, _ := v.(string); return s }

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestLedgerTableMatchesCode(t *testing.T) {
	p, err := tpl(t).ResolvedProperties("LedgerTable", vals(nil))
	if err != nil {
		t.Fatal(err)
	}
	in := ledger.CreateTableInput("x")
	var keys, attrs []string
	for _, k := range in.KeySchema {
		keys = append(keys, *k.AttributeName+":"+string(k.KeyType))
	}
	for _, a := range in.AttributeDefinitions {
		attrs = append(attrs, *a.AttributeName+":"+string(a.AttributeType))
	}
	var gotKeys, gotAttrs []string
	for _, k := range p["KeySchema"].([]any) {
		m := k.(map[string]any)
		gotKeys = append(gotKeys, m["AttributeName"].(string)+":"+m["KeyType"].(string))
	}
	for _, a := range p["AttributeDefinitions"].([]any) {
		m := a.(map[string]any)
		gotAttrs = append(gotAttrs, m["AttributeName"].(string)+":"+m["AttributeType"].(string))
	}
	if !reflect.DeepEqual(keys, gotKeys) || !reflect.DeepEqual(attrs, gotAttrs) || p["BillingMode"] != string(in.BillingMode) {
		t.Errorf("template table keys %v %v %v; ledger.CreateTableInput %v %v %v", gotKeys, gotAttrs, p["BillingMode"], keys, attrs, in.BillingMode)
	}
	if mustJSON(p["PointInTimeRecoverySpecification"]) != `{"PointInTimeRecoveryEnabled":true}` ||
		mustJSON(p["TimeToLiveSpecification"]) != `{"AttributeName":"expiresAt","Enabled":true}` {
		t.Errorf("PITR %v, TTL %v", p["PointInTimeRecoverySpecification"], p["TimeToLiveSpecification"])
	}
	for _, id := range []string{"ResultTopic", "ChatTopic"} {
		if tp := tpl(t).Resources[id]; tp.Properties["KmsMasterKeyId"] == nil {
			t.Errorf("%s is not encrypted", id)
		}
	}
}

// TestRoutesParameter: the quick-start route the template writes parses and validates, with
// and without alarms, with backslashes in the tag pattern.
func TestRoutesParameter(t *testing.T) {
	for _, tc := range []struct {
		alarms string
		want   []string
	}{{"", nil}, {"web-5xx-rate", []string{"web-5xx-rate"}}, {"a,b", []string{"a", "b"}}} {
		p, err := tpl(t).ResolvedProperties("RoutesParameter", vals(map[string]any{"AlarmNames": tc.alarms, "TagPattern": `v\d+\.\d+\.\d+`, "SmokeCheckPort": "8080"}))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := routes.Parse([]byte(p["Value"].(string)))
		if err != nil {
			t.Fatalf("AlarmNames=%q: the template's routes do not parse: %v\n%s", tc.alarms, err, p["Value"])
		}
		r := doc.Routes[0]
		if r.Name != "web-prod" || r.Repository != "web" || !r.MatchesTag("v1.2.3") || r.MatchesTag("v1.2") || r.Targets[0].Key() != "prod/web" ||
			r.Targets[0].Container != "app" || r.SmokeTests.Port != 8080 || r.SmokeTests.Checks[0].Path != "/health" {
			t.Errorf("quick-start route = %+v", r)
		}
		var got []string
		if r.Alarms != nil {
			got = r.Alarms.Names
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("AlarmNames=%q: route alarms %v; want %v", tc.alarms, got, tc.want)
		}
	}
}

// declaredNotCalled lists IAM actions that the AWS-shaped interfaces of a function's
// dependencies declare but that the function never calls, with the reason. Anything else
// those interfaces declare must be allowed by the function's role.
var declaredNotCalled = map[string]string{
	"ssm:PutParameter": "routes.Store.Save is used by the CLI (`greenlight routes put`); no Lambda writes routes",
}

var declaredNotCalledBy = map[string]map[string]string{
	// The hook only writes its evidence (ledger.PutSmokeEvidence).
	"SmokeTestFunction": {
		"dynamodb:GetItem": "ledger client interface; the hook only calls PutSmokeEvidence", "dynamodb:UpdateItem": "idem",
		"dynamodb:DeleteItem": "idem", "dynamodb:Query": "idem",
	},
	// The lock publishes a stopped holder's result with publish.Publisher.Publish only; the
	// evidence gathering that reads ECS tasks is finalize's (the lock sets no ECS client).
	"LockFunction": {
		"ecs:ListTasks":     "publish.Publisher's ECS interface; the lock only calls Publish, which does not read tasks",
		"ecs:DescribeTasks": "idem",
	},
	// The notifier only uses the chat delivery claims (Put/Delete/Get/Query).
	"NotifyFunction": {"dynamodb:UpdateItem": "ledger client interface; chat claims never update in place"},
	// The reconciler reads history (Query) and claims digest markers (PutItem, GetItem).
	"ReconcileFunction": {
		"dynamodb:UpdateItem": "ledger client interface; the reconciler only calls History and ClaimDigest",
		"dynamodb:DeleteItem": "idem",
	},
}

// mustFind: calls the derivation has to find in greenlight's own functions (guards the
// derivation itself), and must not find (it follows only what each main constructs).
var mustFind = map[string][]string{
	"ResolveFunction":   {"ssm:GetParameter", "dynamodb:PutItem"},
	"LockFunction":      {"states:DescribeExecution", "dynamodb:PutItem", "sns:Publish", "events:PutEvents"},
	"StartFunction":     {"ecs:RegisterTaskDefinition", "ecs:UpdateService", "ecs:DescribeServiceRevisions", "ecs:ListServiceDeployments"},
	"CheckFunction":     {"ecs:DescribeServiceDeployments", "ecs:StopServiceDeployment"},
	"FinalizeFunction":  {"sns:Publish", "events:PutEvents", "ecs:ListTasks", "ecs:DescribeTasks"},
	"ReconcileFunction": {"ecr:DescribeImages", "states:StartExecution", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "dynamodb:Query", "ssm:GetParameter"},
}

var mustNotFind = map[string][]string{
	"ResolveFunction":   {"ecs:UpdateService", "states:DescribeExecution"},
	"FinalizeFunction":  {"ecs:UpdateService", "ssm:GetParameter"},
	"ReconcileFunction": {"ecs:UpdateService", "ecs:RegisterTaskDefinition", "states:DescribeExecution"},
}

// TestIAMCoversCalls derives the AWS calls of each function from its code and checks its role.
func TestIAMCoversCalls(t *testing.T) {
	tp := tpl(t)
	for id, dir := range wantFunctions {
		t.Run(id, func(t *testing.T) {
			if m, _ := filepath.Glob(filepath.Join(root, dir, "*.go")); len(m) == 0 {
				t.Skipf("%s has no Go code yet (written in another issue); its IAM is checked once it lands", dir)
			}
			calls, err := samtemplate.AWSCalls(context.Background(), root, module, "./"+dir)
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, c := range calls {
				found[c.Action] = true
			}
			for _, a := range mustNotFind[id] {
				if found[a] {
					t.Errorf("the derivation found %s for %s, which never calls it: it follows too much", a, id)
				}
			}
			for _, a := range mustFind[id] {
				if !found[a] {
					t.Fatalf("the derivation missed %s for %s (found %v): it is broken", a, id, calls)
				}
			}
			if len(calls) == 0 {
				t.Fatalf("no AWS calls found for %s: the derivation is broken", dir)
			}
			stmts, _, err := tp.RoleStatements(tp.FunctionRole(id))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range calls {
				if samtemplate.Allows(stmts, c.Action) {
					continue
				}
				if _, ok := declaredNotCalled[c.Action]; ok {
					continue
				}
				if _, ok := declaredNotCalledBy[id][c.Action]; ok {
					continue
				}
				t.Errorf("%s can call %s (%s) but its role does not allow it", id, c.Action, c.Where)
			}
		})
	}
}

// starRequired are the mutating ECS/IAM actions AWS only authorizes on "*".
var starRequired = map[string]string{
	"ecs:RegisterTaskDefinition": "no resource type in the Service Authorization Reference",
}

// TestIAMRules: no wildcard actions, no "*" resource on mutating ECS/IAM actions except where
// AWS requires it, and iam:PassRole only with iam:PassedToService.
func TestIAMRules(t *testing.T) {
	tp := tpl(t)
	for _, role := range tp.OfType("AWS::IAM::Role") {
		stmts, _, err := tp.RoleStatements(role)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			for _, a := range s.Actions {
				if strings.Contains(a, "*") && (strings.HasPrefix(a, "ecs:") || strings.HasPrefix(a, "iam:") || a == "*") {
					t.Errorf("%s %s: wildcard action %s", role, s.Sid, a)
				}
				if samtemplate.Mutating(a) && samtemplate.HasStarResource(s) {
					if _, ok := starRequired[a]; !ok {
						t.Errorf("%s %s: %s on \"*\"; scope it (only %v may use \"*\")", role, s.Sid, a, starRequired)
					}
				}
				if strings.EqualFold(a, "iam:PassRole") {
					se, _ := s.Condition["StringEquals"].(map[string]any)
					if se["iam:PassedToService"] != "ecs-tasks.amazonaws.com" || samtemplate.HasStarResource(s) {
						t.Errorf("%s %s: iam:PassRole needs the role ARNs and Condition iam:PassedToService=ecs-tasks.amazonaws.com; got %v %v", role, s.Sid, s.Resources, s.Condition)
					}
				}
			}
		}
	}
	// The state machine may invoke exactly the deploy-path functions, and start only itself.
	stmts, _, _ := tp.RoleStatements("DeployStateMachineRole")
	if !samtemplate.Allows(stmts, "lambda:InvokeFunction") || !samtemplate.Allows(stmts, "states:StartExecution") || samtemplate.Allows(stmts, "ecs:UpdateService") {
		t.Error("state machine role: want lambda:InvokeFunction and states:StartExecution, nothing on ECS")
	}
}

func TestPlaceholdersAndRender(t *testing.T) {
	def := `{"a":"${X}","b":"${Y}","c":"${X}"}`
	if got := samtemplate.Placeholders(def); !reflect.DeepEqual(got, []string{"X", "Y"}) {
		t.Errorf("Placeholders = %v", got)
	}
	if _, err := samtemplate.RenderSubstitutions(def, map[string]string{"X": "1"}); err == nil || !strings.Contains(err.Error(), "Y") {
		t.Errorf("a missing substitution must be named: %v", err)
	}
	if out, _ := samtemplate.RenderSubstitutions(def, map[string]string{"X": "1", "Y": "2"}); out != `{"a":"1","b":"2","c":"1"}` {
		t.Errorf("rendered %s", out)
	}
}

// TestReconcileSchedule: the reconciler runs every ReconcileIntervalMinutes (a rate that reads
// right for 1), is off for 0 or empty, starts only the stack's own state machine, and may
// list exactly the repositories the push rule listens to.
func TestReconcileSchedule(t *testing.T) {
	tp := tpl(t)
	for _, id := range []string{"ReconcileSchedule", "ReconcileSchedulePermission"} {
		if tp.Resources[id].Condition != "ReconcileOn" {
			t.Errorf("%s has condition %q; want ReconcileOn", id, tp.Resources[id].Condition)
		}
	}
	for _, tc := range []struct {
		interval string
		on       bool
		rate     string
	}{{"15", true, "rate(15 minutes)"}, {"1", true, "rate(1 minute)"}, {"0", false, ""}, {"", false, ""}} {
		v := vals(map[string]any{"ReconcileIntervalMinutes": tc.interval})
		on, err := tp.Condition("ReconcileOn", v)
		if err != nil {
			t.Fatal(err)
		}
		if on != tc.on {
			t.Errorf("ReconcileIntervalMinutes=%q: schedule on = %v; want %v", tc.interval, on, tc.on)
		}
		if !on {
			continue
		}
		p, err := tp.ResolvedProperties("ReconcileSchedule", v)
		if err != nil {
			t.Fatal(err)
		}
		targets, _ := p["Targets"].([]any)
		if p["ScheduleExpression"] != tc.rate || p["State"] != "ENABLED" || len(targets) != 1 ||
			targets[0].(map[string]any)["Arn"] != "arn:aws:test:::ReconcileFunction/Arn" {
			t.Errorf("ReconcileIntervalMinutes=%q: schedule %v; want %s targeting the reconcile function", tc.interval, p, tc.rate)
		}
	}
	perm, _ := tp.ResolvedProperties("ReconcileSchedulePermission", vals(nil))
	if perm["Principal"] != "events.amazonaws.com" || perm["SourceArn"] != "arn:aws:test:::ReconcileSchedule/Arn" {
		t.Errorf("invoke permission %v; want events.amazonaws.com from the schedule rule only", perm)
	}
	env, err := tp.FunctionEnvironment("ReconcileFunction", vals(nil))
	if err != nil {
		t.Fatal(err)
	}
	smARN := "arn:aws:states:eu-west-1:" + account + ":stateMachine:greenlight-deploy"
	if env["STATE_MACHINE_ARN"] != smARN || env["RECONCILE_GRACE_MINUTES"] == "" {
		t.Errorf("reconcile environment %v; want STATE_MACHINE_ARN %s and the grace period", env, smARN)
	}
	if eic, _ := tp.ResolvedProperties("ReconcileFunctionEventInvokeConfig", vals(nil)); eic["MaximumRetryAttempts"] != 0.0 {
		t.Errorf("reconcile async config %v; want no retries (the next run is the retry)", eic)
	}

	role := tp.FunctionRole("ReconcileFunction")
	resources := func(params map[string]any, sid string) []any {
		t.Helper()
		p, err := tp.ResolvedProperties(role, vals(params))
		if err != nil {
			t.Fatal(err)
		}
		for _, pol := range p["Policies"].([]any) {
			doc := pol.(map[string]any)["PolicyDocument"].(map[string]any)
			for _, st := range asList(doc["Statement"]) {
				if m := st.(map[string]any); m["Sid"] == sid {
					return asList(m["Resource"])
				}
			}
		}
		t.Fatalf("%s has no statement %s", role, sid)
		return nil
	}
	for _, tc := range []struct {
		repos string
		want  []any
	}{
		{"", []any{"arn:aws:ecr:eu-west-1:" + account + ":repository/web"}},
		{"web,team/api", []any{"arn:*:ecr:*:*:repository/web", "arn:*:ecr:*:*:repository/team/api"}},
	} {
		if got := resources(map[string]any{"RepositoryNames": tc.repos}, "ListRouteImages"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RepositoryNames=%q: ecr:DescribeImages on %v; want %v", tc.repos, got, tc.want)
		}
	}
	if got := resources(nil, "StartDeployments"); !reflect.DeepEqual(got, []any{smARN}) {
		t.Errorf("states:StartExecution on %v; want only %s", got, smARN)
	}
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
