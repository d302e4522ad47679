package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// goodService is a correctly wired service; each table case breaks one thing.
func goodService() serviceFacts {
	tgA, tgB := "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-a/aaa", "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-b/bbb"
	prod, test := "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/alb/1/2/p", "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/alb/1/3/t"
	lbRole, hookRole, fn := "arn:aws:iam::1:role/lb", "arn:aws:iam::1:role/hook", "arn:aws:lambda:us-east-1:1:function:smoke"
	return serviceFacts{
		Key: "prod/web", Route: "web-prod", Container: "app", SmokeTests: true, AlarmNames: []string{"web-5xx"},
		Status: "ACTIVE", Controller: "ECS", Strategy: "BLUE_GREEN",
		LBs:       []lbFact{{Container: "app", TG: tgA, Advanced: true, AltTG: tgB, ProdRule: prod, TestRule: test, Role: lbRole}},
		Hooks:     []hookFact{{Function: fn, Role: hookRole, Stages: []string{"POST_SCALE_UP"}}},
		ECSAlarms: &ecsAlarmFact{Names: []string{"web-5xx"}, Enable: true, Rollback: true},
		ListenerRules: map[string]*ruleForward{
			prod: {Weights: map[string]int32{tgA: 100, tgB: 0}}, test: {Weights: map[string]int32{tgA: 100, tgB: 0}},
		},
		TargetGroups: map[string]*tgFact{
			tgA: {FullName: "targetgroup/web-a/aaa", LoadBalancers: []string{"app/alb/1"}},
			tgB: {FullName: "targetgroup/web-b/bbb", LoadBalancers: []string{"app/alb/1"}},
		},
		Roles: map[string]*roleFact{
			lbRole:   {TrustsECS: true, Policies: []string{"arn:aws:iam::aws:policy/" + LoadBalancerPolicy}},
			hookRole: {TrustsECS: true},
		},
		Functions: map[string]*fnFact{fn: {State: "Active", LastUpdateStatus: "Successful"}},
		Alarms:    map[string]*alarmFact{"web-5xx": {Dimensions: []string{"LoadBalancer=app/alb/1", "TargetGroup=targetgroup/web-a/aaa", "LoadBalancer=app/alb/1", "TargetGroup=targetgroup/web-b/bbb"}}},
	}
}

const pushPattern = `{"source":["aws.ecr"],"detail-type":["ECR Image Action"],"detail":{"action-type":["PUSH"],"result":["SUCCESS"],"repository-name":["web"]}}`

func goodFacts() verifyFacts {
	return verifyFacts{Services: []serviceFacts{goodService()}, Repos: map[string]bool{"web": true},
		Rules: []ruleFact{{Name: "push", State: "ENABLED", Pattern: pushPattern}}}
}

func TestVerifyChecks(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(f *verifyFacts)
		id     string // the check that must change
		status string
		text   string
	}{
		{"all good", func(f *verifyFacts) {}, "", Pass, ""},
		{"routes invalid", func(f *verifyFacts) { f.RoutesErr = "invalid routes: version: is 2, want 1" }, "routes.valid", Fail, "version"},
		{"service missing", func(f *verifyFacts) { f.Services[0].Missing = true }, "service.exists", Fail, "does not exist"},
		{"rolling", func(f *verifyFacts) { f.Services[0].Strategy = "ROLLING" }, "service.blue-green", Fail, "ROLLING, not BLUE_GREEN"},
		{"no strategy", func(f *verifyFacts) { f.Services[0].Strategy = "" }, "service.blue-green", Fail, "is -, not BLUE_GREEN"},
		{"codedeploy", func(f *verifyFacts) { f.Services[0].Controller = "CODE_DEPLOY" }, "service.blue-green", Fail, "controller is CODE_DEPLOY"},
		{"canary ok", func(f *verifyFacts) { f.Services[0].Strategy = "CANARY" }, "service.blue-green", Pass, "CANARY"},
		{"no lb", func(f *verifyFacts) { f.Services[0].LBs = nil }, "lb.advanced", Fail, "no load balancer"},
		{"no advanced", func(f *verifyFacts) { f.Services[0].LBs[0].Advanced = false }, "lb.advanced", Fail, "no advancedConfiguration"},
		{"tg missing", func(f *verifyFacts) { f.Services[0].TargetGroups[f.Services[0].LBs[0].AltTG] = nil }, "lb.target-groups", Fail, "web-b does not exist"},
		{"tg not in rules", func(f *verifyFacts) {
			s := f.Services[0]
			delete(s.ListenerRules[s.LBs[0].ProdRule].Weights, s.LBs[0].AltTG)
			delete(s.ListenerRules[s.LBs[0].TestRule].Weights, s.LBs[0].AltTG)
		}, "lb.rules", Fail, "web-b is in neither"},
		{"tg only in test rule", func(f *verifyFacts) {
			s := f.Services[0]
			delete(s.ListenerRules[s.LBs[0].ProdRule].Weights, s.LBs[0].AltTG)
		}, "lb.rules", Pass, "both target groups sit"},
		{"prod rule missing", func(f *verifyFacts) { f.Services[0].ListenerRules[f.Services[0].LBs[0].ProdRule] = nil }, "lb.rules", Fail, "does not exist"},
		{"same rules", func(f *verifyFacts) { f.Services[0].LBs[0].TestRule = f.Services[0].LBs[0].ProdRule }, "lb.test-rule", Fail, "is the production rule"},
		{"no test rule", func(f *verifyFacts) { f.Services[0].LBs[0].TestRule = "" }, "lb.test-rule", Warn, "no test listener rule"},
		{"split weights", func(f *verifyFacts) {
			s := f.Services[0]
			s.ListenerRules[s.LBs[0].ProdRule].Weights[s.LBs[0].AltTG] = 50
		}, "lb.weights", Warn, "2 target groups"},
		{"lb role missing", func(f *verifyFacts) { f.Services[0].Roles[f.Services[0].LBs[0].Role] = nil }, "role.load-balancer", Fail, "does not exist"},
		{"lb role untrusted", func(f *verifyFacts) { f.Services[0].Roles[f.Services[0].LBs[0].Role].TrustsECS = false }, "role.load-balancer", Fail, "does not trust ecs.amazonaws.com"},
		{"lb policy missing", func(f *verifyFacts) { f.Services[0].Roles[f.Services[0].LBs[0].Role].Policies = nil }, "role.load-balancer", Fail, "lacks " + LoadBalancerPolicy},
		{"lb policy lookalike", func(f *verifyFacts) {
			f.Services[0].Roles[f.Services[0].LBs[0].Role].Policies = []string{"arn:aws:iam::1:policy/" + LoadBalancerPolicy}
		}, "role.load-balancer", Fail, "lacks"},
		{"no lb role", func(f *verifyFacts) { f.Services[0].LBs[0].Role = "" }, "role.load-balancer", Fail, "no load-balancer role"},
		{"hook fn missing", func(f *verifyFacts) { f.Services[0].Functions[f.Services[0].Hooks[0].Function] = nil }, "hook.function", Fail, "does not exist"},
		{"hook fn pending", func(f *verifyFacts) { f.Services[0].Functions[f.Services[0].Hooks[0].Function].State = "Pending" }, "hook.function", Fail, "is Pending, not Active"},
		{"hook role untrusted", func(f *verifyFacts) { f.Services[0].Roles[f.Services[0].Hooks[0].Role].TrustsECS = false }, "role.hook", Fail, "does not trust"},
		{"no hook with smoke", func(f *verifyFacts) { f.Services[0].Hooks = nil }, "hook.configured", Fail, "never run"},
		{"no hook, no smoke", func(f *verifyFacts) { f.Services[0].Hooks, f.Services[0].SmokeTests = nil, false }, "hook.configured", Warn, "not smoke tested"},
		{"hook wrong stage", func(f *verifyFacts) { f.Services[0].Hooks[0].Stages = []string{"PRE_SCALE_UP"} }, "hook.stages", Warn, "none of the route's smoke-test stages"},
		{"alarm missing", func(f *verifyFacts) { f.Services[0].Alarms["web-5xx"] = nil }, "alarm.exists", Fail, "does not exist"},
		{"alarm one tg", func(f *verifyFacts) {
			f.Services[0].Alarms["web-5xx"].Dimensions = []string{"LoadBalancer=app/alb/1", "TargetGroup=targetgroup/web-a/aaa"}
		}, "alarm.watches", Fail, "1 of the service's 2"},
		{"alarm lb only", func(f *verifyFacts) { f.Services[0].Alarms["web-5xx"].Dimensions = []string{"LoadBalancer=app/alb/1"} }, "alarm.watches", Warn, "whole load balancer"},
		{"alarm elsewhere", func(f *verifyFacts) {
			f.Services[0].Alarms["web-5xx"].Dimensions = []string{"LoadBalancer=app/other/9"}
		}, "alarm.watches", Fail, "neither"},
		{"no route alarms", func(f *verifyFacts) { f.Services[0].AlarmNames = nil }, "alarm.configured", Warn, "names no alarms"},
		{"not an ECS alarm", func(f *verifyFacts) { f.Services[0].ECSAlarms = nil }, "alarm.ecs", Warn, "not in the service's deployment alarms"},
		{"ECS alarm without rollback", func(f *verifyFacts) { f.Services[0].ECSAlarms.Rollback = false }, "alarm.ecs", Warn, "enable and rollback"},
		{"repo missing", func(f *verifyFacts) { f.Repos["web"] = false }, "ecr.repository", Fail, "does not exist"},
		{"no rule", func(f *verifyFacts) { f.Rules = nil }, "events.rule", Fail, "no EventBridge rule"},
		{"rule disabled", func(f *verifyFacts) { f.Rules[0].State = "DISABLED" }, "events.rule", Fail, "matches but is DISABLED"},
		{"rule other repo", func(f *verifyFacts) { f.Rules[0].Pattern = strings.Replace(pushPattern, `["web"]`, `["api"]`, 1) }, "events.rule", Fail, "does not match pushes to web"},
		{"rule unreadable", func(f *verifyFacts) { f.RulesErr = "the state machine is unknown" }, "events.rule", Warn, "could not check"},
		{"container not lb", func(f *verifyFacts) { f.Services[0].Container = "sidecar" }, "service.container", Warn, "not the load-balanced container"},
	}
	base := verifyChecks(goodFacts())
	for _, c := range base {
		if c.Status != Pass {
			t.Fatalf("the good install must pass everything: %+v", c)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goodFacts()
			c.mutate(&f)
			got := verifyChecks(f)
			if c.id == "" {
				return
			}
			found := false
			for _, ch := range got {
				if ch.ID == c.id && ch.Status == c.status && strings.Contains(ch.Message, c.text) {
					found = true
					if ch.Status != Pass && ch.Fix == "" {
						t.Errorf("%s has no fix", ch.ID)
					}
				}
			}
			if !found {
				t.Errorf("want %s %s containing %q; got:\n%s", c.id, c.status, c.text, dump(got))
			}
		})
	}
}

func dump(cs []Check) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", c.Status, c.ID, c.Subject, c.Message)
	}
	return b.String()
}

func TestMatchesPush(t *testing.T) {
	cases := []struct {
		pattern string
		repo    string
		ok      bool
		ignored string
		err     bool
	}{
		{pushPattern, "web", true, "", false},
		{pushPattern, "api", false, "", false},
		{`{"source":["aws.ecr"]}`, "anything", true, "", false},
		{`{"source":["aws.ecs"]}`, "web", false, "", false},
		{`{"source":["aws.ecr"],"detail":{"action-type":["DELETE"]}}`, "web", false, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"prefix":"team-"}]}}`, "team-web", true, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"prefix":"team-"}]}}`, "web", false, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"anything-but":["api"]}]}}`, "web", true, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"anything-but":{"prefix":"w"}}]}}`, "web", false, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"wildcard":"team/*"}]}}`, "team/web", true, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"equals-ignore-case":"WEB"}]}}`, "web", true, "", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"exists":true}],"image-tag":["v1"]}}`, "web", true, "detail.image-tag", false},
		{`{"source":["aws.ecr"],"detail":{"repository-name":[{"numeric":[">",1]}]}}`, "web", false, "", true},
		{`not json`, "web", false, "", true},
	}
	for _, c := range cases {
		ok, ignored, err := matchesPush(c.pattern, c.repo)
		if ok != c.ok || (err != nil) != c.err || strings.Join(ignored, ",") != c.ignored {
			t.Errorf("matchesPush(%s, %s) = %v, %v, %v; want %v, %q, err %v", c.pattern, c.repo, ok, ignored, err, c.ok, c.ignored, c.err)
		}
	}
}

func TestTrustsService(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`:                                                                             true,
		`%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22ecs.amazonaws.com%22%5D%7D%2C%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%7D%5D%7D`: true,
		`{"Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ecs.amazonaws.com"]},"Action":"sts:AssumeRole"}}`:                                                      true,
		`{"Statement":[{"Effect":"Deny","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`:                                                                              false,
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`:                                                                       false,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole"}]}`:                                                                               false,
	} {
		if got := trustsService(doc, "ecs.amazonaws.com"); got != want {
			t.Errorf("trustsService(%s) = %v, want %v", doc, got, want)
		}
	}
}

func TestParseImageRef(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	cases := []struct {
		in   string
		want imageRef
		err  string
	}{
		{"web:v1.2.3", imageRef{Repository: "web", Tag: "v1.2.3"}, ""},
		{"team/web:v1", imageRef{Repository: "team/web", Tag: "v1"}, ""},
		{"web@" + d, imageRef{Repository: "web", Digest: d}, ""},
		{"web:v1@" + d, imageRef{Repository: "web", Tag: "v1", Digest: d}, ""},
		{"111122223333.dkr.ecr.eu-west-1.amazonaws.com/web:v1", imageRef{Registry: "111122223333.dkr.ecr.eu-west-1.amazonaws.com", RegistryID: "111122223333", Repository: "web", Tag: "v1"}, ""},
		{"web", imageRef{}, "name a tag or a digest"},
		{"web:", imageRef{}, "empty tag"},
		{"web@sha256:xyz", imageRef{}, "64 hex digits"},
		{"ghcr.io/x/web:v1", imageRef{}, "not an Amazon ECR registry"},
		{"", imageRef{}, "--image is required"},
	}
	for _, c := range cases {
		got, err := parseImageRef(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || ExitCode(err) != ExitUsage {
				t.Errorf("parseImageRef(%q) error = %v, want %q (usage)", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseImageRef(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func rec(id string, o result.Outcome, digest string) result.Result {
	return result.Result{ID: id, Outcome: o, Image: result.Image{Repository: "web", Digest: digest}}
}

func TestPickRollbackTarget(t *testing.T) {
	d := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	hist := []result.Result{ // newest first
		rec("e5", result.Regressed, d('3')),
		rec("e4", result.Succeeded, d('3')),
		rec("e3", result.RolledBack, d('4')),
		rec("e2", result.Succeeded, d('2')),
		rec("e1", result.Succeeded, d('1')),
	}
	hist[0].FollowUpOf = "e4"
	got, cur, basis, err := pickRollbackTarget(hist, "")
	if err != nil || got.ID != "e2" || cur.ID != "e4" || basis != "last good deployment e2" {
		t.Errorf("default: %v %v %q %v", got, cur, basis, err)
	}
	if got, _, _, _ := pickRollbackTarget(hist, d('1')); got == nil || got.ID != "e1" {
		t.Errorf("--to digest: %v", got)
	}
	if got, _, basis, _ := pickRollbackTarget(hist, d('4')); got == nil || got.ID != "e3" || !strings.Contains(basis, "ROLLED_BACK") {
		t.Errorf("--to a digest only seen rolled back: %v %q", got, basis)
	}
	if got, _, _, err := pickRollbackTarget(hist, d('9')); got != nil || err != nil {
		t.Errorf("--to an unknown digest leaves it to ECR: %v %v", got, err)
	}
	if got, _, _, _ := pickRollbackTarget(hist, "e1"); got == nil || got.ID != "e1" {
		t.Errorf("--to id: %v", got)
	}
	if _, _, _, err := pickRollbackTarget(hist, "nope"); ExitCode(err) != ExitNotFound {
		t.Errorf("--to unknown id: %v", err)
	}
	if _, _, _, err := pickRollbackTarget(hist, "sha256:abc"); ExitCode(err) != ExitUsage {
		t.Errorf("--to bad digest: %v", err)
	}
	if _, _, _, err := pickRollbackTarget(hist[:2], ""); ExitCode(err) != ExitNotFound {
		t.Errorf("nothing before current: %v", err)
	}
}

func TestExpectedDuration(t *testing.T) {
	h := []result.Result{{Outcome: result.Succeeded, DurationSeconds: 300}, {Outcome: result.RolledBack, DurationSeconds: 50},
		{Outcome: result.Succeeded, DurationSeconds: 500}, {Outcome: result.Succeeded, DurationSeconds: 400}, {Outcome: result.Succeeded, DurationSeconds: 600}}
	if s, b := expectedDuration(h, 10); s != 450 || b != "median of 4 successful deployments" {
		t.Errorf("median: %v %q", s, b)
	}
	if s, b := expectedDuration(h[1:2], 10); s != 600 || b != "bake time (at least)" {
		t.Errorf("bake: %v %q", s, b)
	}
	if s, _ := expectedDuration(nil, 0); s != 0 {
		t.Errorf("unknown: %v", s)
	}
}

func TestDeploymentView(t *testing.T) {
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	sd := ecstypes.ServiceDeployment{Status: ecstypes.ServiceDeploymentStatusInProgress, StartedAt: &start}
	if v := deploymentView(sd, start.Add(90*time.Second)); !v.Active || v.ElapsedSeconds != 90 {
		t.Errorf("active: %+v", v)
	}
	end := start.Add(5 * time.Minute)
	sd.Status, sd.FinishedAt = ecstypes.ServiceDeploymentStatusSuccessful, &end
	if v := deploymentView(sd, start.Add(time.Hour)); v.Active || v.ElapsedSeconds != 300 {
		t.Errorf("finished: elapsed must stop at FinishedAt: %+v", v)
	}
}

func TestResolveService(t *testing.T) {
	doc := routes.MustParse([]byte(`{"version":1,"routes":[
		{"name":"a","repository":"web","tagPattern":".*","targets":[{"cluster":"prod","service":"web","container":"app"},{"cluster":"staging","service":"web","container":"app"}]},
		{"name":"b","repository":"api","tagPattern":".*","targets":[{"cluster":"prod","service":"api","container":"app"}]}]}`))
	if tg, err := resolveService(doc, "api"); err != nil || tg.Key() != "prod/api" || tg.Route.Name != "b" {
		t.Errorf("bare unique: %v %v", tg, err)
	}
	if _, err := resolveService(doc, "web"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "prod/web and staging/web") {
		t.Errorf("ambiguous: %v", err)
	}
	if tg, err := resolveService(doc, "arn:aws:ecs:us-east-1:1:service/staging/web"); err != nil || tg.Key() != "staging/web" || tg.Route == nil {
		t.Errorf("arn: %v %v", tg, err)
	}
	if tg, err := resolveService(doc, "prod/other"); err != nil || tg.Route != nil {
		t.Errorf("unrouted cluster/service: %v %v", tg, err)
	}
	if _, err := resolveService(doc, "nope"); ExitCode(err) != ExitNotFound {
		t.Errorf("unknown: %v", err)
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil:                                   0,
		Usagef("x"):                           2,
		NotFoundf("x"):                        4,
		Failedf("x"):                          1,
		AWSError("x", errors.New("boom")):     3,
		fmt.Errorf("w: %w", context.Canceled): 130,
		&smithy.GenericAPIError{Code: "AccessDenied"}: 3,
		silent{ExitFailed}:                            1,
		errors.New("plain"):                           1,
	} {
		if got := ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	if d := lineDiff("a\nb\n", "a\nb\n", 3); d != "" {
		t.Errorf("equal: %q", d)
	}
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\neleven\n"
	want := "@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+eleven\n"
	if d := lineDiff(a, b, 3); d != want {
		t.Errorf("diff:\n%s\nwant:\n%s", d, want)
	}
	// changes far apart make two hunks
	var la, lb []string
	for i := 1; i <= 20; i++ {
		la = append(la, fmt.Sprint(i))
		lb = append(lb, fmt.Sprint(i))
	}
	lb[1], lb[17] = "two", "eighteen"
	want = "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n"
	if d := lineDiff(strings.Join(la, "\n")+"\n", strings.Join(lb, "\n")+"\n", 3); d != want {
		t.Errorf("two hunks:\n%s\nwant:\n%s", d, want)
	}
	if d := lineDiff("", "x\n", 3); d != "@@ -1,0 +1,1 @@\n+x\n" {
		t.Errorf("from empty: %q", d)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 42 * time.Second: "42s", 185 * time.Second: "3m05s", 62 * time.Minute: "1h02m", -time.Second: "0s"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
