package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/smithy-go"
)

func TestBoundaryNames(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"config", Configf("service %s not found", "prod/web"), ErrConfig},
		{"input", Inputf("bad event"), ErrInput},
		{"wrapped config", fmt.Errorf("start: %w", Configf("x")), ErrConfig},
		{"transient", Transient(errors.New("slow")), ErrTransient},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), ErrTransient},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, ErrTransient},
		{"server fault", &smithy.GenericAPIError{Code: "Weird", Fault: smithy.FaultServer}, ErrTransient},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, ErrInternal},
		{"plain", errors.New("boom"), ErrInternal},
	}
	for _, tt := range tests {
		if got := Name(tt.err); got != tt.want {
			t.Errorf("Name(%s) = %q; want %q", tt.name, got, tt.want)
		}
		b, ok := Boundary(tt.err).(messages.InvokeResponse_Error)
		if !ok || b.Type != tt.want || b.Message != tt.err.Error() {
			t.Errorf("Boundary(%s) = %#v; want type %q and the message", tt.name, Boundary(tt.err), tt.want)
		}
	}
	if Boundary(nil) != nil {
		t.Error("Boundary(nil) must be nil")
	}
}

func TestTimeScale(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, bad := range []string{"0", "-1", "2", "x", "NaN"} {
		if _, err := ParseTimeScale(env(bad)); err == nil {
			t.Errorf("ParseTimeScale(%q) accepted it", bad)
		}
	}
	s, err := ParseTimeScale(env(""))
	if err != nil || s != 1 {
		t.Fatalf("ParseTimeScale(unset) = %v, %v; want 1", s, err)
	}
	s, err = ParseTimeScale(env("0.01"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Apply(10 * time.Minute); got != 6*time.Second {
		t.Errorf("0.01.Apply(10m) = %v; want 6s", got)
	}
	if got := s.Seconds(30 * time.Second); got != 1 {
		t.Errorf("0.01.Seconds(30s) = %d; want the 1 s floor", got)
	}
	if got := TimeScale(1).Seconds(90 * time.Second); got != 90 {
		t.Errorf("1.Seconds(90s) = %d", got)
	}
	if got := TimeScale(0).Apply(time.Minute); got != time.Minute {
		t.Errorf("the zero TimeScale must mean 1, got %v", got)
	}
}

func TestIsRollback(t *testing.T) {
	for src, want := range map[string]bool{SourceRollback: true, SourceRegressionRollback: true, SourceCLI: false, SourceReconcile: false, SourceECRPush: false} {
		if IsRollback(src) != want {
			t.Errorf("IsRollback(%q) = %v", src, !want)
		}
	}
}

// TestRequestInputOmitsEventFields: {"request": …} inputs carry no zero event time.
func TestRequestInputOmitsEventFields(t *testing.T) {
	b, err := json.Marshal(ExecutionInput{Request: &Request{Source: SourceCLI}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"request":{"source":"cli","image":{"repository":""}}}` {
		t.Errorf("request input = %s", b)
	}
}
