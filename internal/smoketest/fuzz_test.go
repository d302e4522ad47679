package smoketest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refusingTransport answers every probe with "connection refused" at once: fuzzed checks and
// test-listener URLs never reach the network.
type refusingTransport struct{}

func (refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// FuzzHookEvent: whatever ECS (or anyone) sends the hook, Handle answers with a hookStatus
// and never an error: decoding, the ARN identity checks, hookDetails (strict, validated as
// route checks), the rollback re-invocation rule, the stage rules and the plan run on fakes
// (ECS answers from a canned service, probes are refused), never panicking (a recovered
// panic would read "failed internally"). IN_PROGRESS always carries a call-back delay and
// greenlight's state. Seeds: events/smoketest, internal/ecsemu's hook payloads and
// testdata/fuzz/FuzzHookEvent.
func FuzzHookEvent(f *testing.F) {
	for _, dir := range []string{"../../events/smoketest", "../ecsemu/testdata/hookpayloads"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 {
			f.Fatalf("no seed hook events in %s", dir)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	doc := routeDoc(f, healthCheck+"\ntestListenerUrl: http://web-alb.example:8080")
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	client := &http.Client{Transport: refusingTransport{}}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fe := newFakeECS()
		fe.setTasks([]string{"10.0.1.10", "10.0.1.11"}, "10.0.1.20")
		h := New(Config{RoutesParameter: "/greenlight/routes", LedgerTable: "ledger", TimeScale: 1}, Deps{
			ECS: fe, Routes: &fakeRoutes{doc: doc}, Evidence: &fakeEvidence{}, Logger: quiet, HTTP: client,
			Now: func() time.Time { return now },
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := h.Handle(ctx, raw)
		if err != nil {
			t.Fatalf("Handle(%q) returned an error: %v; the hook must answer with a hookStatus", raw, err)
		}
		switch resp.HookStatus {
		case Succeeded, Failed:
		case InProgress:
			if resp.CallBackDelay < 1 || resp.HookDetails == nil || resp.HookDetails.Greenlight == nil {
				t.Fatalf("Handle(%q) = IN_PROGRESS with delay %d and details %+v; want a delay and greenlight's state", raw, resp.CallBackDelay, resp.HookDetails)
			}
		default:
			t.Fatalf("Handle(%q) hookStatus %q", raw, resp.HookStatus)
		}
		if strings.Contains(resp.Reason, "failed internally") {
			t.Fatalf("Handle(%q) panicked (recovered): %s", raw, resp.Reason)
		}
		if resp.Reason == "" {
			t.Fatalf("Handle(%q) = %s without a reason", raw, resp.HookStatus)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("Handle(%q): the response does not encode: %v", raw, err)
		}
	})
}
