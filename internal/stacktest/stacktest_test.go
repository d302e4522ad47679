package stacktest_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/stacktest"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// TestPushEvent: the event decodes, unknown fields rejected, into the state machine's
// execution input, with the push's repository, tag and digest, as resolve reads it.
func TestPushEvent(t *testing.T) {
	b, err := json.Marshal(stacktest.PushEvent("web", "v2", stacktest.Digest(7), "ev-1"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in struct {
		workflow.ExecutionInput
		Version   string   `json:"version"`
		Resources []string `json:"resources"`
	}
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("PushEvent = %s: %v", b, err)
	}
	want := workflow.ECRPushDetail{ActionType: "PUSH", Result: "SUCCESS", RepositoryName: "web", ImageDigest: stacktest.Digest(7), ImageTag: "v2"}
	if in.ID != "ev-1" || in.Source != "aws.ecr" || in.DetailType != "ECR Image Action" || in.Account != stacktest.Account || in.Time.IsZero() ||
		in.Detail == nil || *in.Detail != want {
		t.Errorf("PushEvent = %s; want an ECR push of web:v2 %s, event ev-1", b, stacktest.Digest(7))
	}
}

func TestDigestAndExecName(t *testing.T) {
	if d := stacktest.Digest(255); !regexp.MustCompile(`^sha256:0{62}ff$`).MatchString(d) {
		t.Errorf("Digest(255) = %q; want sha256: and 64 hex digits", d)
	}
	if d1, d2 := stacktest.Digest(1), stacktest.Digest(2); d1 == d2 {
		t.Errorf("Digest(1) = Digest(2) = %q", d1)
	}
	arn := "arn:aws:states:us-east-1:123456789012:execution:greenlight-deploy:3f2a"
	if got := stacktest.ExecName(arn); got != "3f2a" {
		t.Errorf("ExecName(%q) = %q; want 3f2a", arn, got)
	}
}
