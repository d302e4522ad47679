package result

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestImage(t *testing.T) {
	d := "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234abcd"
	tests := []struct {
		img   Image
		short string
		str   string
	}{
		{Image{Repository: "web", Tag: "v1", Digest: d}, "7f5b2640fe6f", "web:v1@7f5b2640fe6f"},
		{Image{Repository: "web", Digest: d}, "7f5b2640fe6f", "web@7f5b2640fe6f"},
		{Image{Repository: "web", Tag: "v1"}, "", "web:v1"},
		{Image{Repository: "web", Digest: "sha256:abc"}, "abc", "web@abc"},
	}
	for _, tt := range tests {
		if got := tt.img.ShortDigest(); got != tt.short {
			t.Errorf("%+v.ShortDigest() = %q; want %q", tt.img, got, tt.short)
		}
		if got := tt.img.String(); got != tt.str {
			t.Errorf("%+v.String() = %q; want %q", tt.img, got, tt.str)
		}
	}
}

func TestOutcomeValid(t *testing.T) {
	for _, o := range Outcomes {
		if !o.Valid() {
			t.Errorf("%s.Valid() = false", o)
		}
	}
	for _, o := range []Outcome{"", "succeeded", "ROLLBACK", "OK"} {
		if o.Valid() {
			t.Errorf("Outcome(%q).Valid() = true; want false", o)
		}
	}
}

func TestCheckEvidenceSummary(t *testing.T) {
	tests := []struct {
		c    CheckEvidence
		want string
	}{
		{CheckEvidence{Method: "GET", Path: "/health", Address: "10.0.1.23:8080", Status: 500, BodyExcerpt: "FAIL", LatencyMs: 12, Failure: "status 500, want 200"},
			"GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms (status 500, want 200)"},
		{CheckEvidence{Method: "GET", Path: "/health", Address: "10.0.1.23:8080", Status: 200, BodyExcerpt: "OK", LatencyMs: 3, Passed: true},
			"GET /health on 10.0.1.23:8080 returned 200 'OK' in 3 ms"},
		{CheckEvidence{Method: "GET", Path: "/", Address: "10.0.1.24:8080", Failure: "connection refused"},
			"GET / on 10.0.1.24:8080: connection refused"},
		{CheckEvidence{Method: "GET", Path: "/", Address: "a:1", Status: 502, BodyExcerpt: "line one\n\tline   two", LatencyMs: 1},
			"GET / on a:1 returned 502 'line one line two' in 1 ms"},
	}
	for _, tt := range tests {
		if got := tt.c.Summary(); got != tt.want {
			t.Errorf("Summary() = %q\nwant        %q", got, tt.want)
		}
	}
	long := CheckEvidence{Method: "GET", Path: "/", Address: "a:1", Status: 500, BodyExcerpt: strings.Repeat("é", 100)}
	if s := long.Summary(); !utf8.ValidString(s) || !strings.Contains(s, "…") {
		t.Errorf("a long body excerpt must be cut on a rune boundary with an ellipsis: %q", s)
	}
}

func TestAlarmEvidenceSummary(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rate := AlarmEvidence{Name: "web-5xx-rate", State: "ALARM", Metric: "5xx rate %", Comparison: "GreaterThanThreshold", Threshold: 5,
		PeriodSeconds: 60, EvaluationPeriods: 3, DatapointsToAlarm: 2, Breaching: 2, Stage: "BAKE_TIME",
		Datapoints: []Datapoint{{At: at, Value: 1}, {At: at.Add(time.Minute), Value: 48}, {At: at.Add(2 * time.Minute), Value: 31}}}
	if got, want := rate.Summary(), "web-5xx-rate: 5xx rate 48% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q; want %q", got, want)
	}
	bare := AlarmEvidence{Name: "composite", State: "ALARM"}
	if got := bare.Summary(); !strings.HasPrefix(got, "composite: ") || !strings.Contains(strings.ToLower(got), "alarm") {
		t.Errorf("Summary() of a composite alarm with no metric = %q", got)
	}
}

// TestResultJSONContract pins the field names other systems read (SNS filter policies,
// EventBridge rules, chat, the CLI's JSON output).
func TestResultJSONContract(t *testing.T) {
	r := Result{Version: Version, ID: "e/prod/web", Outcome: RolledBack, Cluster: "prod", Service: "web",
		Image: Image{Repository: "web", Tag: "v1", Digest: "sha256:1"}, ServiceDeploymentARN: "arn:sd", ExecutionARN: "arn:ex",
		Reason: &Reason{Kind: KindSmokeTestFailed, Summary: "s", Evidence: &Evidence{SmokeChecks: []CheckEvidence{{Check: "health"}}}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "id", "outcome", "cluster", "service", "image", "serviceDeploymentArn", "executionArn", "reason", "trigger", "startedAt", "finishedAt", "durationSeconds", "links"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result JSON lacks %q: %s", k, b)
		}
	}
	reason := m["reason"].(map[string]any)
	if reason["kind"] != "SMOKE_TEST_FAILED" || reason["evidence"].(map[string]any)["smokeChecks"] == nil {
		t.Errorf("reason JSON = %v", reason)
	}
}

func TestAttributes(t *testing.T) {
	r := Result{Outcome: RolledBack, Cluster: "prod", Service: "web", Route: "web-prod", Reason: &Reason{Kind: KindAlarm}}
	got := r.Attributes()
	want := map[string]string{"outcome": "ROLLED_BACK", "cluster": "prod", "service": "web", "route": "web-prod", "reasonKind": "ALARM"}
	if len(got) != len(want) {
		t.Fatalf("Attributes() = %v; want %v (empty values left out)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Attributes()[%s] = %q; want %q", k, got[k], v)
		}
	}
}
