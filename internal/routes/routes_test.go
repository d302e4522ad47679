package routes

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func load(t *testing.T) *Document {
	t.Helper()
	b, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(testdata/full.yaml) = %v", err)
	}
	return d
}

func TestMatch(t *testing.T) {
	d := load(t)
	tests := []struct {
		repo, tag string
		want      []string
	}{
		{"web", "v1.2.3", []string{"web-prod"}},
		{"web", "v1.2", nil},
		{"web", "xv1.2.3", nil},    // anchored at the start
		{"web", "v1.2.3-rc1", nil}, // and at the end
		{"web", "main-abc123", []string{"web-staging"}},
		{"web", "amain-abc", nil}, // pattern without ^ is anchored too
		{"api", "v1.2.3", nil},
		{"WEB", "v1.2.3", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range d.Match(tt.repo, tt.tag) {
			got = append(got, r.Name)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Match(%q, %q) = %v; want %v", tt.repo, tt.tag, got, tt.want)
		}
	}
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	d := load(t)
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(JSON of full.yaml) = %v", err)
	}
	b2, _ := again.JSON()
	if string(b) != string(b2) {
		t.Errorf("JSON round trip changed the document:\n%s\n---\n%s", b, b2)
	}
	c := again.Routes[0].SmokeTests.Checks
	if !c[1].ExpectStatus.Match(204) || c[1].ExpectStatus.Match(201) || !c[2].ExpectStatus.Match(299) {
		t.Errorf("status specs after round trip: %v %v", c[1].ExpectStatus, c[2].ExpectStatus)
	}
}

func TestStatusSpec(t *testing.T) {
	tests := []struct {
		in      string
		match   []int
		nomatch []int
		str     string
		bad     bool
	}{
		{in: `200`, match: []int{200}, nomatch: []int{201, 500}, str: "200"},
		{in: `[200, 204]`, match: []int{200, 204}, nomatch: []int{202}, str: "200 or 204"},
		{in: `"2xx"`, match: []int{200, 250, 299}, nomatch: []int{300, 199}, str: "2xx"},
		{in: `"200-399"`, match: []int{200, 302}, nomatch: []int{404}, str: "200-399"},
		{in: `["2xx", 404]`, match: []int{201, 404}, nomatch: []int{500}, str: "2xx or 404"},
		{in: `"abc"`, bad: true},
		{in: `99`, bad: true},
		{in: `"300-200"`, bad: true},
		{in: `[]`, bad: true},
		{in: `200.5`, bad: true},
	}
	for _, tt := range tests {
		var s StatusSpec
		err := json.Unmarshal([]byte(tt.in), &s)
		if tt.bad {
			if err == nil {
				t.Errorf("StatusSpec(%s) = %v; want an error", tt.in, s)
			}
			continue
		}
		if err != nil {
			t.Errorf("StatusSpec(%s): %v", tt.in, err)
			continue
		}
		for _, c := range tt.match {
			if !s.Match(c) {
				t.Errorf("StatusSpec(%s).Match(%d) = false; want true", tt.in, c)
			}
		}
		for _, c := range tt.nomatch {
			if s.Match(c) {
				t.Errorf("StatusSpec(%s).Match(%d) = true; want false", tt.in, c)
			}
		}
		if s.String() != tt.str {
			t.Errorf("StatusSpec(%s).String() = %q; want %q", tt.in, s.String(), tt.str)
		}
	}
	var zero StatusSpec
	if !zero.Match(204) || zero.Match(301) {
		t.Error("zero StatusSpec must accept 2xx only")
	}
}

// TestParseProblems checks that each broken document is rejected with a problem naming the
// field and saying how to fix it.
func TestParseProblems(t *testing.T) {
	const base = `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":[{"cluster":"c","service":"s","container":"app"}]%s}]%s}`
	tests := []struct {
		name      string
		doc       string
		field     string
		msgSubstr string
	}{
		{"empty", ``, "", "empty"},
		{"not json", `{"version":1,`, "", "not valid JSON"},
		{"yaml list", `- a`, "", "must be an object"},
		{"version", `{"version":2,"routes":[]}`, "version", "want 1"},
		{"unknown field suggestion", `{"version":1,"routes":[{"name":"r","repository":"web","tagPatern":".*","targets":[{"cluster":"c","service":"s","container":"a"}]}]}`, "routes[0].tagPatern", `did you mean "tagPattern"`},
		{"unknown nested", `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":[{"cluster":"c","service":"s","containr":"a"}]}]}`, "routes[0].targets[0].containr", `"container"`},
		{"type list", `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":{"cluster":"c"}}]}`, "routes[0].targets", "want a list"},
		{"type number", fmtBase(base, `,"deadlineMinutes":"ten"`, ``), "routes[0].deadlineMinutes", "want a number"},
		{"type bool", fmtBase(base, `,"alarms":{"names":["a"],"rollbackOnRegression":"yes"}`, ``), "routes[0].alarms.rollbackOnRegression", "want a boolean"},
		{"bad regexp", strings.Replace(fmtBase(base, ``, ``), `".*"`, `"v(1"`, 1), "routes[0].tagPattern", "missing closing )"},
		{"missing container", `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":[{"cluster":"c","service":"s"}]}]}`, "routes[0].targets[0].container", "is missing"},
		{"repo uri", strings.Replace(fmtBase(base, ``, ``), `"web"`, `"111122223333.dkr.ecr.eu-west-1.amazonaws.com/web"`, 1), "routes[0].repository", "not an image URI"},
		{"no targets", `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":[]}]}`, "routes[0].targets", "at least one"},
		{"dup route", `{"version":1,"routes":[{"name":"r","repository":"web","tagPattern":".*","targets":[{"cluster":"c","service":"s","container":"a"}]},{"name":"r","repository":"web","tagPattern":".*","targets":[{"cluster":"c","service":"s","container":"a"}]}]}`, "routes[1].name", "unique"},
		{"check path", fmtBase(base, `,"smokeTests":{"checks":[{"name":"h","path":"http://evil/"}]}`, ``), "routes[0].smokeTests.checks[0].path", "starting with"},
		{"check host header", fmtBase(base, `,"smokeTests":{"checks":[{"name":"h","path":"/","headers":{"Host":"x"}}]}`, ``), "routes[0].smokeTests.checks[0].headers.Host", "not allowed"},
		{"no checks", fmtBase(base, `,"smokeTests":{"checks":[]}`, ``), "routes[0].smokeTests.checks", "at least one check"},
		{"status", fmtBase(base, `,"smokeTests":{"checks":[{"name":"h","path":"/","expectStatus":"ok"}]}`, ``), "", "not a status"},
		{"stage", fmtBase(base, `,"smokeTests":{"stages":["BAKE_TIME"],"checks":[{"name":"h","path":"/"}]}`, ``), "routes[0].smokeTests.stages[0]", "POST_SCALE_UP"},
		{"when firing", fmtBase(base, `,"alarms":{"names":["a"],"whenAlreadyFiring":"ignore"}`, ``), "routes[0].alarms.whenAlreadyFiring", `"block"`},
		{"rollback needs watch", fmtBase(base, `,"alarms":{"names":["a"],"rollbackOnRegression":true}`, ``), "routes[0].alarms.rollbackOnRegression", "postDeployWatchMinutes"},
		{"undefined channel", fmtBase(base, `,"notify":["slack"]`, ``), "routes[0].notify[0]", "not defined"},
		{"url not secret", fmtBase(base, ``, `,"channels":{"s":{"type":"slack","webhookSecretArn":"https://hooks.slack.com/services/T/B/X"}}`), "channels.s.webhookSecretArn", "Secrets Manager"},
		{"reserved channel", fmtBase(base, ``, `,"channels":{"amazon-q":{"type":"slack","webhookSecretArn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:x"}}`), "channels.amazon-q", "reserved"},
		{"channel type", fmtBase(base, ``, `,"channels":{"s":{"type":"irc","webhookSecretArn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:x"}}`), "channels.s.type", "slack"},
		{"outcome", fmtBase(base, ``, `,"channels":{"s":{"type":"slack","webhookSecretArn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:x","outcomes":["ROLLBACK"]}}`), "channels.s.outcomes[0]", "ROLLED_BACK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("Parse(%s) = %v; want a *ValidationError", tt.doc, err)
			}
			for _, p := range ve.Problems {
				if p.Field == tt.field && strings.Contains(p.Message, tt.msgSubstr) {
					return
				}
			}
			t.Errorf("Parse(%s) problems = %v; want one on %q containing %q", tt.doc, ve.Problems, tt.field, tt.msgSubstr)
		})
	}
}

func fmtBase(base, route, doc string) string {
	return strings.Replace(strings.Replace(base, "%s", route, 1), "%s", doc, 1)
}

func TestValidDocumentHasNoProblems(t *testing.T) {
	d := load(t)
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := d.Routes[0].Deadline().Minutes(); got != 90 {
		t.Errorf("Deadline() = %v min; want 90", got)
	}
	if got := d.Routes[1].Deadline().Minutes(); got != DefaultDeadlineMinutes {
		t.Errorf("default Deadline() = %v min; want %d", got, DefaultDeadlineMinutes)
	}
	if r, tg, ok := d.RouteFor("prod", "web-worker"); !ok || r.Name != "web-prod" || tg.Container != "worker" {
		t.Errorf("RouteFor(prod, web-worker) = %v %v %v", r.Name, tg, ok)
	}
	if got := d.Repositories(); len(got) != 1 || got[0] != "web" {
		t.Errorf("Repositories() = %v; want [web]", got)
	}
}

// TestParseReportsTyposWithOtherProblems: one round of fixes is enough.
func TestParseReportsTyposWithOtherProblems(t *testing.T) {
	_, err := Parse([]byte(`{"version":1,"routes":[{"name":"r","repository":"web","tagPatern":".*","targets":[{"cluster":"c","service":"s","container":"a"}]}]}`))
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("Parse = %v; want a *ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	if got := strings.Join(fields, ","); got != "routes[0].tagPatern,routes[0].tagPattern" {
		t.Errorf("problems on %s; want the typo and the missing tagPattern together", got)
	}
}
