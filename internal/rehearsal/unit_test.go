package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

func TestSelectScenarios(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		appCmd  bool
		want    []string
		left    []string
		wantErr string
	}{
		{name: "default", want: []string{"healthy"}},
		{name: "all", in: []string{"all"}, want: ScenarioNames()},
		{name: "two, deduplicated", in: []string{"burst", "healthy", "burst"}, want: []string{"burst", "healthy"}},
		{name: "all with app-cmd leaves the app-fault scenarios out", in: []string{"all"}, appCmd: true,
			want: []string{"healthy", "linear", "duplicate-event", "burst", "ecs-throttling", "lambda-killed", "moto-slow", "chat-down", "stopped-by-hand"},
			left: []string{"broken-health", "error-rate", "canary", "crash-on-start", "alarm-already-firing", "push-during-rollback"}},
		{name: "faults", in: []string{"faults"},
			want: []string{"ecs-throttling", "lambda-killed", "moto-slow", "chat-down", "push-during-rollback", "stopped-by-hand"}},
		{name: "faults with app-cmd", in: []string{"faults"}, appCmd: true,
			want: []string{"ecs-throttling", "lambda-killed", "moto-slow", "chat-down", "stopped-by-hand"}, left: []string{"push-during-rollback"}},
		{name: "a group and a name", in: []string{"healthy", "faults"},
			want: []string{"healthy", "ecs-throttling", "lambda-killed", "moto-slow", "chat-down", "push-during-rollback", "stopped-by-hand"}},
		{name: "operator faults with app-cmd", in: []string{"push-during-rollback"}, appCmd: true, wantErr: "(CRASH_AFTER)"},
		{name: "unknown", in: []string{"healty"}, wantErr: `unknown scenario "healty": use one of healthy, broken-health`},
		{name: "fault scenario with app-cmd", in: []string{"error-rate"}, appCmd: true, wantErr: "scenario error-rate injects faults through the sample app's switches (ERROR_RATE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, left, err := selectScenarios(tc.in, tc.appCmd)
			if tc.wantErr != "" {
				var ue *UsageError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("selectScenarios(%v) error = %v; want a usage error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := names(got); !reflect.DeepEqual(n, tc.want) || !reflect.DeepEqual(left, tc.left) {
				t.Errorf("selectScenarios(%v) = %v, left out %v; want %v, %v", tc.in, n, left, tc.want, tc.left)
			}
		})
	}
}

func TestScenarioTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Scenarios {
		if seen[s.Name] || s.Name == "all" {
			t.Errorf("scenario name %q repeated or reserved", s.Name)
		}
		seen[s.Name] = true
		if s.Description == "" || s.Proves == "" || len(s.Pushes) == 0 || s.Primary >= len(s.Pushes) {
			t.Errorf("scenario %s is incomplete: %+v", s.Name, s)
		}
		for i, p := range s.Pushes {
			if !p.Expect.Valid() {
				t.Errorf("scenario %s push %d expects %q", s.Name, i, p.Expect)
			}
			if p.Repeat != nil && *p.Repeat >= i {
				t.Errorf("scenario %s push %d repeats a later push", s.Name, i)
			}
			if p.Repeat == nil && p.Tag == "" {
				t.Errorf("scenario %s push %d has no tag", s.Name, i)
			}
		}
	}
	for _, want := range []string{"healthy", "broken-health", "error-rate", "canary", "linear", "duplicate-event", "burst", "crash-on-start", "alarm-already-firing",
		"ecs-throttling", "lambda-killed", "moto-slow", "chat-down", "push-during-rollback", "stopped-by-hand"} {
		if !seen[want] {
			t.Errorf("the issue's scenario %s is missing", want)
		}
	}
}

func TestResolveOptions(t *testing.T) {
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"time scale above 1", Options{TimeScale: 2}, "--time-scale 2: want a number in (0, 1]"},
		{"negative time scale", Options{TimeScale: -0.1}, "--time-scale -0.1"},
		{"time scale too small", Options{TimeScale: 0.0001}, "below 0.001"},
		{"rate", Options{RequestRate: 5000}, "--rate 5000"},
		{"health path", Options{HealthPath: "health"}, `--health-path "health": want a path starting with /`},
		{"routes file", Options{RoutesFile: "/nonexistent/routes.yaml"}, "--routes /nonexistent/routes.yaml"},
		{"not a source tree", Options{RepoDir: t.TempDir()}, "is not a greenlight source tree (no template.yaml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.RepoDir == "" {
				tc.o.RepoDir = repo
			}
			_, err := tc.o.resolve()
			var ue *UsageError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
				t.Errorf("resolve(%+v) = %v; want a usage error containing %q", tc.o, err, tc.want)
			}
		})
	}
	r, err := Options{RepoDir: repo}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.TimeScale != ecsemu.DefaultTimeScale || r.HealthPath != "/health" || r.CacheDir != filepath.Join(repo, ".bin", "rehearse") || len(r.scenarios) != 1 {
		t.Errorf("defaults = %+v", r)
	}
}

func TestRequestRate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		min  int
		want float64
	}{
		{Options{TimeScale: 0.01}, 20, 67},   // 40 requests per emulated minute of 0.6 s
		{Options{TimeScale: 0.1}, 20, 20},    // 6.7/s would do; never below 20/s
		{Options{TimeScale: 0.001}, 20, 300}, // capped
		{Options{TimeScale: 0.01, RequestRate: 5}, 20, 5},
	} {
		if got := requestRate(tc.o, tc.min); got != tc.want {
			t.Errorf("requestRate(scale %v, rate %v, min %d) = %v; want %v", tc.o.TimeScale, tc.o.RequestRate, tc.min, got, tc.want)
		}
	}
}

func TestRefsAndLevels(t *testing.T) {
	tp := &samtemplate.Template{Resources: map[string]samtemplate.Resource{
		"Table": {Type: "AWS::DynamoDB::Table"},
		"Role":  {Type: "AWS::IAM::Role", Properties: map[string]any{"Policies": []any{map[string]any{"Resource": map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}}}}},
		"Fn":    {Type: "AWS::Lambda::Function", Properties: map[string]any{"Role": map[string]any{"Fn::GetAtt": []any{"Role", "Arn"}}, "Env": map[string]any{"Ref": "Table"}}},
		"SM":    {Type: "AWS::StepFunctions::StateMachine", Properties: map[string]any{"X": map[string]any{"Fn::Sub": []any{"${Fn.Arn} ${Other} ${AWS::Region} ${!Literal}", map[string]any{"Other": map[string]any{"Ref": "Table"}}}}}},
	}}
	b := &builder{file: "t.yaml", t: tp}
	levels, err := b.levels([]string{"Fn", "Role", "SM", "Table"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Table"}, {"Role"}, {"Fn"}, {"SM"}}
	if !reflect.DeepEqual(levels, want) {
		t.Errorf("levels = %v; want %v", levels, want)
	}
	tp.Resources["Table"] = samtemplate.Resource{Type: "AWS::DynamoDB::Table", Properties: map[string]any{"X": map[string]any{"Ref": "SM"}}}
	if _, err := b.levels([]string{"Fn", "Role", "SM", "Table"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a cycle: %v; want an error naming it", err)
	}
}

// TestUnknownTypeIsAnError: a resource type the rehearsal cannot create stops it, naming
// the resource and the type; nothing is skipped silently.
func TestUnknownTypeIsAnError(t *testing.T) {
	tp := &samtemplate.Template{Resources: map[string]samtemplate.Resource{
		"Queue":  {Type: "AWS::SQS::Queue"},
		"Stream": {Type: "AWS::Kinesis::Stream"},
		"Net":    {Type: "AWS::EC2::VPC"},
	}}
	created := 0
	b := &builder{file: "template.yaml", t: tp,
		creators: map[string]creator{"AWS::SQS::Queue": func(context.Context, string, map[string]any) (physical, error) {
			created++
			return physical{Ref: "q"}, nil
		}},
		skip: map[string]notNeeded{"AWS::EC2::VPC": {reason: "network", stand: func(string) physical { return physical{Ref: "vpc-1"} }}},
	}
	err := b.build(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Stream (AWS::Kinesis::Stream)") || created != 0 {
		t.Fatalf("build = %v (created %d); want an error naming Stream (AWS::Kinesis::Stream) before creating anything", err, created)
	}
	delete(tp.Resources, "Stream")
	if err := b.build(context.Background()); err != nil {
		t.Fatal(err)
	}
	if created != 1 || b.made["Net"].Ref != "vpc-1" || len(b.skipped) != 1 || b.skipped[0].Reason != "network" {
		t.Errorf("made %v, skipped %v", b.made, b.skipped)
	}
}

func TestCoerce(t *testing.T) {
	in := map[string]any{"ContainerPort": "8080", "Threshold": "5", "Value": "8080", "Cpu": "256",
		"Rules": []any{map[string]any{"Weight": "100", "Name": "x"}}, "Port": "not a number"}
	got := coerce(in)
	want := map[string]any{"ContainerPort": 8080.0, "Threshold": 5.0, "Value": "8080", "Cpu": "256",
		"Rules": []any{map[string]any{"Weight": 100.0, "Name": "x"}}, "Port": "not a number"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coerce = %v; want %v", got, want)
	}
}

func TestRenderChat(t *testing.T) {
	slack := `{"text":"x","blocks":[{"type":"header","text":{"type":"plain_text","text":"⏪ Rolled back: web (prod)"}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"GET /health returned 500 &lt;FAIL&gt;"}},` +
		`{"type":"section","fields":[{"type":"mrkdwn","text":"*Image*\nweb:v2"},{"type":"mrkdwn","text":"*Duration*\n4s"}]},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"<https://console/x|ECS service deployment>"}},` +
		`{"type":"context","elements":[{"type":"mrkdwn","text":"greenlight · result r1"}]}]}`
	want := "⏪ Rolled back: web (prod)\nGET /health returned 500 <FAIL>\nImage: web:v2 · Duration: 4s\nECS service deployment\ngreenlight · result r1"
	if got := renderChat("slack", []byte(slack)); got != want {
		t.Errorf("renderChat(slack) =\n%s\nwant\n%s", got, want)
	}
	r := result.Result{Version: 1, ID: "r1", Outcome: result.Succeeded, Cluster: "prod", Service: "web", Image: result.Image{Repository: "web", Tag: "v2"}}
	b, _ := json.Marshal(r)
	if got := renderChat("webhook", b); !strings.HasPrefix(got, "✅ Deployed: web") {
		t.Errorf("renderChat(webhook) = %q; want the composed headline first", got)
	}
	if got := renderChat("teams", []byte(`{"type":"message","attachments":[{"content":{"body":[{"type":"TextBlock","text":"⏪ Rolled back"}]}}]}`)); got != "⏪ Rolled back" {
		t.Errorf("renderChat(teams) = %q", got)
	}
}

func TestShortARNs(t *testing.T) {
	in := "test rule arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/2/d63776771e50166d now forwards 100% to arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/greenlight-demo-tg-b/2b50 via arn:aws:lambda:us-east-1:123456789012:function:greenlight-SmokeTestFunction"
	want := "test rule rule d6377677 now forwards 100% to greenlight-demo-tg-b via greenlight-SmokeTestFunction"
	if got := shortARNs(in); got != want {
		t.Errorf("shortARNs =\n%s\nwant\n%s", got, want)
	}
	if got := durations(3*time.Second, 0.01); got != "5m0s (3.0s)" {
		t.Errorf("durations(3s, 0.01) = %q; want 5m0s (3.0s)", got)
	}
}

// TestAssertions runs the extra checks on hand-made observations.
func TestAssertions(t *testing.T) {
	sd := "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/s/abc"
	rolled := &result.Result{Outcome: result.RolledBack, ServiceDeploymentARN: sd, Reason: &result.Reason{Kind: result.KindAlarm,
		Evidence: &result.Evidence{Alarms: []result.AlarmEvidence{{Name: alarmName, State: "ALARM"}}}}}
	o := &Observed{
		Scenario: Scenario{Pushes: []Push{{Tag: "v2", Expect: result.RolledBack}}}, AlarmName: alarmName, BlueVersion: "v1",
		Pushes:      []PushObservation{{Label: "#1 v2", Tag: "v2", Result: rolled}},
		Deployments: []ecsemu.DeploymentReport{{ARN: sd, Stages: []ecsemu.StageRecord{{Stage: "SCALE_UP"}, {Stage: "BAKE_TIME"}}, Statuses: []ecsemu.StatusRecord{{Status: "IN_PROGRESS"}, {Status: "ROLLBACK_REQUESTED", Stage: "BAKE_TIME"}}}},
		Production:  []ecsemu.PhaseTraffic{{Stage: "STEADY", Served: 10}, {ServiceDeploymentARN: sd, Stage: "BAKE_TIME", Served: 10, Failed: 4}},
		Requests:    RequestStats{Sent: 20, OK: 16, Failed: 4, ByVersion: map[string]int64{"v1": 10, "v2": 6}},
	}
	for _, tc := range []struct {
		a    Assertion
		fail string
	}{
		{reasonKind(result.KindAlarm), ""},
		{reasonKind(result.KindSmokeTestFailed), "the reason's kind is ALARM; want SMOKE_TEST_FAILED"},
		{alarmEvidence(), ""},
		{rolledBackAfterShift(), ""},
		{noFailedProduction(), "production failed 4 requests"},
		{greenServedProduction(), ""},
		{neverShifted(), "6 production responses came from the pushed version v2"},
		{reachedStages("BAKE_TIME"), ""},
		{reachedStages("CLEAN_UP"), "never entered CLEAN_UP"},
		{deployments(1), ""},
		{deployments(2), "1 service deployments were started; want 2"},
		{chatFor(result.RolledBack), "no \"Rolled back\" message"},
		{stoppedTaskEvidence("Essential container"), "no stopped task"},
	} {
		err := tc.a.Check(o)
		if tc.fail == "" && err != nil || tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
			t.Errorf("%s = %v; want %q", tc.a.Name, err, tc.fail)
		}
	}
	if fails := o.checkOutcomes(); len(fails) != 0 {
		t.Errorf("checkOutcomes = %v", fails)
	}
	o.Pushes[0].Result = nil
	if fails := o.checkOutcomes(); len(fails) != 1 || !strings.Contains(fails[0], "no result was published") {
		t.Errorf("checkOutcomes without a result = %v", fails)
	}
}

// TestPruneRuns keeps the newest run directories.
func TestPruneRuns(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20260101-000001-1", "20260101-000002-1", "20260101-000003-1"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pruneRuns(dir, 2)
	left, _ := os.ReadDir(dir)
	if len(left) != 2 || left[0].Name() != "20260101-000002-1" {
		t.Errorf("left %v", left)
	}
}

// TestResolveRoutesFile reads --routes up front: the rehearsed route's container names the
// demo environment's container, and a tag pattern that refuses the rehearsal's tags is a
// usage error before anything starts.
func TestResolveRoutesFile(t *testing.T) {
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "version: 1\nroutes:\n  - name: shop\n    repository: shop\n    tagPattern: 'v.*'\n    targets: [{cluster: prod, service: shop, container: web}]\n")
	r, err := Options{RepoDir: repo, RoutesFile: good}.resolve()
	if err != nil || r.container != "web" {
		t.Fatalf("resolve(--routes good) = %+v, %v; want container web", r, err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\nroutes:\n  - name: shop\n    repository: shop\n    tagPattern: 'release-.*'\n    targets: [{cluster: prod, service: shop, container: web}]\n", `tagPattern "release-.*" does not match v1.1.0`},
		{"version: 1\nroutes:\n  - name: shop\n    repositry: shop\n", "repositry"},
	} {
		_, err := Options{RepoDir: repo, RoutesFile: write("bad.yaml", tc.doc)}.resolve()
		var ue *UsageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("resolve(--routes %q) = %v; want a usage error containing %q", tc.doc, err, tc.want)
		}
	}
}
