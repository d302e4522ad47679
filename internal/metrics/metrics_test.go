package metrics_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/metrics"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func succeeded() result.Result {
	return result.Result{
		Version: 1, ID: "exec-1/prod/web", Outcome: result.Succeeded, Route: "web-prod", Environment: "prod",
		Cluster: "prod", Service: "web",
		Image:                result.Image{Repository: "web", Tag: "v1.2.3", Digest: "sha256:7f5b2640fe6f0000000000000000000000000000000000000000000000000000"},
		ServiceDeploymentARN: "arn:aws:ecs:eu-west-1:111122223333:service-deployment/prod/web/abc",
		ExecutionARN:         "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:exec-1",
		Trigger:              result.Trigger{Source: "ecr-push", PushedAt: t0.Add(-30 * time.Second)},
		StartedAt:            t0, FinishedAt: t0.Add(7 * time.Minute), DurationSeconds: 420,
		Stages: []result.Stage{
			{Name: "SCALE_UP", EnteredAt: t0, Seconds: 45.5},
			{Name: "POST_SCALE_UP", EnteredAt: t0.Add(45 * time.Second), Seconds: 12},
			{Name: "BAKE_TIME", EnteredAt: t0.Add(time.Minute), Seconds: 300},
			{Name: "CLEAN_UP", EnteredAt: t0.Add(6 * time.Minute)}, // current/unfinished: no line
		},
	}
}

func TestRecordsGolden(t *testing.T) {
	rolled := succeeded()
	rolled.ID, rolled.Outcome = "exec-2/prod/web", result.RolledBack
	rolled.Reason = &result.Reason{Kind: result.KindSmokeTestFailed, Summary: "GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms"}
	regressed := result.Result{Version: 1, ID: "exec-1/prod/web/regressed", Outcome: result.Regressed, FollowUpOf: "exec-1/prod/web",
		Cluster: "prod", Service: "web", Image: succeeded().Image, FinishedAt: t0.Add(20 * time.Minute),
		Reason: &result.Reason{Kind: result.KindRegression, Summary: "web-5xx-rate fired"}}
	skipped := result.Result{Version: 1, ID: "exec-3/prod/web", Outcome: result.Skipped, Cluster: "prod", Service: "web",
		Image: result.Image{Repository: "web", Tag: "v1.2.3"}, StartedAt: t0, FinishedAt: t0.Add(time.Second), DurationSeconds: 1,
		Reason: &result.Reason{Kind: result.KindDuplicate, Summary: "already deployed"}}
	rolledNoReason := rolled
	rolledNoReason.ID, rolledNoReason.Reason = "exec-4/prod/web", nil

	for name, r := range map[string]result.Result{
		"succeeded": succeeded(), "rolled_back": rolled, "regressed": regressed, "skipped": skipped, "rolled_back_no_reason": rolledNoReason,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, rec := range metrics.Records(r, t0) {
				if err := metrics.Validate(rec); err != nil {
					t.Fatalf("record fails the EMF rules: %v", err)
				}
				b, _ := json.Marshal(rec)
				buf.Write(b)
				buf.WriteByte('\n')
			}
			golden(t, filepath.Join("testdata", name+".golden"), buf.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// metricValues flattens the records into metric name → dimension set → values, as CloudWatch
// would extract them.
func extract(t *testing.T, recs []metrics.Record) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, rec := range recs {
		b, _ := json.Marshal(rec)
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		md := doc["_aws"].(map[string]any)
		for _, d := range md["CloudWatchMetrics"].([]any) {
			dir := d.(map[string]any)
			for _, set := range dir["Dimensions"].([]any) {
				var parts []string
				for _, k := range set.([]any) {
					parts = append(parts, k.(string)+"="+doc[k.(string)].(string))
				}
				for _, m := range dir["Metrics"].([]any) {
					name := m.(map[string]any)["Name"].(string)
					key := name + "{" + strings.Join(parts, ",") + "}"
					out[key] = append(out[key], doc[name].(float64))
				}
			}
		}
	}
	return out
}

func TestExtractedMetrics(t *testing.T) {
	got := extract(t, metrics.Records(succeeded(), t0))
	want := map[string][]float64{
		"Deployments{Service=prod/web}":                       {1},
		"Deployments{Outcome=SUCCEEDED}":                      {1},
		"Deployments{Service=prod/web,Outcome=SUCCEEDED}":     {1},
		"DurationSeconds{Service=prod/web}":                   {420},
		"DurationSeconds{Service=prod/web,Outcome=SUCCEEDED}": {420},
		"LeadTimeSeconds{Service=prod/web}":                   {450},
		"StageSeconds{Stage=SCALE_UP}":                        {45.5},
		"StageSeconds{Service=prod/web,Stage=SCALE_UP}":       {45.5},
		"StageSeconds{Stage=POST_SCALE_UP}":                   {12},
		"StageSeconds{Service=prod/web,Stage=POST_SCALE_UP}":  {12},
		"StageSeconds{Stage=BAKE_TIME}":                       {300},
		"StageSeconds{Service=prod/web,Stage=BAKE_TIME}":      {300},
	}
	if len(got) != len(want) {
		t.Errorf("got %d metric series, want %d:\n%v", len(got), len(want), got)
	}
	for k, v := range want {
		if g := got[k]; len(g) != 1 || g[0] != v[0] {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}

	r := succeeded()
	r.Outcome, r.Reason = result.RolledBack, &result.Reason{Kind: result.KindAlarm, Summary: "alarm"}
	got = extract(t, metrics.Records(r, t0))
	if v := got["Rollbacks{ReasonKind=ALARM}"]; len(v) != 1 || v[0] != 1 {
		t.Errorf("a rollback by alarm must count Rollbacks{ReasonKind=ALARM} once, got %v", got)
	}
	if _, ok := got["LeadTimeSeconds{Service=prod/web}"]; ok {
		t.Error("lead time is only for SUCCEEDED")
	}

	r = succeeded()
	r.Outcome, r.ServiceDeploymentARN, r.Stages = result.Superseded, "", nil
	got = extract(t, metrics.Records(r, t0))
	if _, ok := got["DurationSeconds{Service=prod/web}"]; ok {
		t.Error("a SUPERSEDED result never ran ECS: no duration")
	}
	if v := got["Deployments{Outcome=SUPERSEDED}"]; len(v) != 1 {
		t.Errorf("Deployments{Outcome=SUPERSEDED} missing: %v", got)
	}
}

func TestTimestamp(t *testing.T) {
	r := succeeded()
	rec := metrics.Records(r, t0.Add(time.Hour))[0]
	if ts := rec["_aws"].(metrics.Metadata).Timestamp; ts != r.FinishedAt.UnixMilli() {
		t.Errorf("Timestamp = %d, want FinishedAt %d", ts, r.FinishedAt.UnixMilli())
	}
	r.FinishedAt = time.Time{}
	rec = metrics.Records(r, t0.Add(time.Hour))[0]
	if ts := rec["_aws"].(metrics.Metadata).Timestamp; ts != t0.Add(time.Hour).UnixMilli() {
		t.Errorf("without FinishedAt, Timestamp = %d, want now", ts)
	}
}

func TestWriteOneLinePerRecord(t *testing.T) {
	var buf bytes.Buffer
	if err := metrics.Write(&buf, succeeded()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 { // main + 3 finished stages
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line is not one JSON object: %q", l)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	ok := func() metrics.Record { return metrics.Records(succeeded(), t0)[0] }
	cases := map[string]func(metrics.Record){
		"no _aws":           func(r metrics.Record) { delete(r, "_aws") },
		"missing dimension": func(r metrics.Record) { delete(r, "Service") },
		"numeric dimension": func(r metrics.Record) { r["Service"] = 3 },
		"empty dimension":   func(r metrics.Record) { r["Outcome"] = "" },
		"missing metric":    func(r metrics.Record) { delete(r, "Deployments") },
		"string metric":     func(r metrics.Record) { r["Deployments"] = "one" },
		"no timestamp":      func(r metrics.Record) { md := r["_aws"].(metrics.Metadata); md.Timestamp = 0; r["_aws"] = md },
		"bad unit": func(r metrics.Record) {
			md := r["_aws"].(metrics.Metadata)
			md.CloudWatchMetrics = []metrics.Directive{{Namespace: "Greenlight", Dimensions: [][]string{{"Service"}}, Metrics: []metrics.Definition{{Name: "Deployments", Unit: "Parsecs"}}}}
			r["_aws"] = md
		},
		"no namespace": func(r metrics.Record) {
			md := r["_aws"].(metrics.Metadata)
			md.CloudWatchMetrics = []metrics.Directive{{Dimensions: [][]string{{"Service"}}, Metrics: []metrics.Definition{{Name: "Deployments"}}}}
			r["_aws"] = md
		},
	}
	if err := metrics.Validate(ok()); err != nil {
		t.Fatalf("the unmodified record must be valid: %v", err)
	}
	for name, mutate := range cases {
		rec := ok()
		mutate(rec)
		if err := metrics.Validate(rec); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}
