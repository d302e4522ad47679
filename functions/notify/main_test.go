package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// TestBuildConfig: a missing or malformed setting stops the function at start-up with a
// message that names the variable and the fix.
func TestBuildConfig(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1") // the SDK reads the region from the process environment
	env := map[string]string{}
	_, err := build(context.Background(), func(k string) string { return env[k] }, slog.Default())
	if err == nil {
		t.Fatal("build() with no configuration = nil error")
	}
	for _, want := range []string{"ROUTES_PARAMETER is not set", "LEDGER_TABLE is not set", "DLQ_URL is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("build() error = %q; want it to say %q", err, want)
		}
	}
	env["ROUTES_PARAMETER"], env["LEDGER_TABLE"] = "/greenlight/routes", "greenlight-ledger"
	env["DLQ_URL"] = "https://sqs.eu-west-1.amazonaws.com/111122223333/greenlight-NotifyDLQ"
	env["CHAT_TOPIC_ARN"] = "greenlight-chat"
	env["CHAT_TOPIC_OUTCOMES"] = "ROLLED_BACK, oops"
	_, err = build(context.Background(), func(k string) string { return env[k] }, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "CHAT_TOPIC_ARN=\"greenlight-chat\" is not an SNS topic ARN") || !strings.Contains(err.Error(), `"OOPS" is not an outcome`) {
		t.Fatalf("build() error = %v; want the bad topic ARN and outcome named", err)
	}
	env["CHAT_TOPIC_ARN"] = "arn:aws:sns:eu-west-1:111122223333:greenlight-chat"
	env["CHAT_TOPIC_OUTCOMES"] = "ROLLED_BACK,FAILED"
	if h, err := build(context.Background(), func(k string) string { return env[k] }, slog.Default()); err != nil || h == nil {
		t.Fatalf("build() with a full configuration = %v", err)
	}
}

// TestSampleEvents decodes every events/notify sample as the handler's input with unknown
// fields rejected, and its message as a Result the same way, so samples cannot drift.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "notify", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in events/notify (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.SNSEvent
			strict(t, b, &ev)
			if len(ev.Records) == 0 {
				t.Fatal("no records")
			}
			for _, rec := range ev.Records {
				var r result.Result
				strict(t, []byte(rec.SNS.Message), &r)
				if !r.Outcome.Valid() || r.ID == "" {
					t.Errorf("message: outcome %q, id %q", r.Outcome, r.ID)
				}
				attr, _ := rec.SNS.MessageAttributes["outcome"].(map[string]any)
				if attr["Value"] != string(r.Outcome) {
					t.Errorf("message attribute outcome = %v; want %s as the deploy core publishes it", attr, r.Outcome)
				}
			}
		})
	}
}

func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}
