package smoketest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSampleEventsDecode pins the samples in events/smoketest to HookEvent: unknown fields
// are rejected, and each sample's hookDetails must parse too.
func TestSampleEventsDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "smoketest", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"post-scale-up.json": false, "post-test-traffic-shift.json": false, "rollback-production-traffic-shift.json": false, "first-deployment.json": false}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var ev HookEvent
		if err := dec.Decode(&ev); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if ev.ExecutionID == "" || ev.LifecycleStage == "" || ev.ExecutionDetails.TargetServiceRevisionArn == "" {
			t.Errorf("%s: missing executionId, lifecycleStage or targetServiceRevisionArn", f)
		}
		if _, err := identify(ev); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := ParseHookDetails(ev.HookDetails); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, ok := want[filepath.Base(f)]; ok {
			want[filepath.Base(f)] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("events/smoketest/%s is missing", name)
		}
	}
}

func TestSampleEventRejectsUnknownFields(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"executionId":"x","lifecycleStage":"POST_SCALE_UP","resourceArn":"a","executionDetails":{"serviceArn":"s","targetServiceRevisionArn":"r","trafficWeights":{}}}`))
	dec.DisallowUnknownFields()
	var ev HookEvent
	if err := dec.Decode(&ev); err == nil || !strings.Contains(err.Error(), "trafficWeights") {
		t.Fatalf("decode with an unknown field = %v; want an error naming it", err)
	}
}

func TestParseHookDetails(t *testing.T) {
	hd, err := ParseHookDetails(json.RawMessage(`{"port": 8081, "testListenerUrl": "http://alb:8443", "checks": [{"name": "a", "path": "/a", "expectStatus": "2xx"}],
		"greenlight": {"stage": "POST_SCALE_UP", "attempt": 3, "firstAttemptAt": "2026-11-20T10:00:00Z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if hd.Port != 8081 || hd.TestListenerURL != "http://alb:8443" || len(hd.Checks) != 1 || hd.Checks[0].Path != "/a" || hd.Greenlight == nil || hd.Greenlight.Attempt != 3 {
		t.Fatalf("ParseHookDetails = %+v", hd)
	}
	// Absent, null, and the CloudFormation "JSON object as a string" form.
	for _, raw := range []string{``, `null`, `{}`, `""`} {
		if hd, err := ParseHookDetails(json.RawMessage(raw)); err != nil || hd.Port != 0 || hd.Checks != nil {
			t.Errorf("ParseHookDetails(%q) = %+v, %v; want empty", raw, hd, err)
		}
	}
	hd, err = ParseHookDetails(json.RawMessage(`"{\"port\": 9000}"`))
	if err != nil || hd.Port != 9000 {
		t.Errorf("ParseHookDetails(string) = %+v, %v; want port 9000", hd, err)
	}
	// Problems are all listed, with fields named as in the hook.
	_, err = ParseHookDetails(json.RawMessage(`{"path": "/x", "checks": [{"name": "a", "path": "a", "maxLatency": 5}], "greenlight": {"attempts": 1}}`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"hookDetails.path: unknown field", `hookDetails.checks[0].maxLatency: unknown field; did you mean "maxLatencyMs"?`, `hookDetails.greenlight: json: unknown field "attempts"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
