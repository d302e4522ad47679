package ecsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fuzzOps are the emulator's operations that create nothing when nothing exists: every
// request the fuzzer sends reaches their JSON decoding and validation, and the emulator
// stays empty (so memory does not grow with the run).
var fuzzOps = []string{
	"DescribeServices", "UpdateService", "ListServiceDeployments", "DescribeServiceDeployments",
	"StopServiceDeployment", "ContinueServiceDeployment", "DescribeServiceRevisions",
	"ListTasks", "DescribeTasks", "StopTask", "DescribeTaskDefinition",
}

// FuzzECSRequest: any request body to any of fuzzOps on an empty, standalone emulator is
// answered without panicking, with JSON: a 200, or a 4xx error whose __type and message say
// what is wrong (a 5xx would blame the emulator for the caller's input). Also: any epoch
// timestamp the wire accepts encodes again. Seeds: testdata/fuzz/FuzzECSRequest.
func FuzzECSRequest(f *testing.F) {
	e, err := New(context.Background(), Options{Region: "eu-west-1", AccountID: "111122223333"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		name := fuzzOps[int(op)%len(fuzzOps)]
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", targetPrefix+name)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		e.serveHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: answer %d %q is not a JSON object: %v", name, body, rec.Code, rec.Body.String(), err)
		}
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			typ, _ := out["__type"].(string)
			msg, _ := out["message"].(string)
			if !strings.HasPrefix(typ, "com.amazonaws.ecs#") || msg == "" {
				t.Fatalf("%s %q: error answer %s without a type and message", name, body, rec.Body.String())
			}
		default:
			t.Fatalf("%s %q: HTTP %d %s; a request the emulator cannot serve is the caller's error (4xx)", name, body, rec.Code, rec.Body.String())
		}
		// The wire's timestamps: whatever parses encodes again.
		var ts epoch
		if ts.UnmarshalJSON(body) == nil {
			b, err := ts.MarshalJSON()
			if err != nil || len(b) == 0 {
				t.Fatalf("epoch %q decoded but encodes as %q, %v", body, b, err)
			}
			if _, err := strconv.ParseFloat(string(b), 64); err != nil {
				t.Fatalf("epoch %q encodes as %q, not epoch seconds", body, b)
			}
		}
	})
}
