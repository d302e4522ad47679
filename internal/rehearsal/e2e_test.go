package rehearsal

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScenarios is the end-to-end test bed: every scenario, in one local AWS, through Run
// (the code path of `greenlight rehearse --scenario all`). Each scenario checks its own
// expectations (outcomes per push, no failed production request, the evidence …); this
// test asserts they all held and that the report carries what the command prints.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server, aws-lambda-rie and the ECS emulator")
	}
	work := keptDir(t)
	var live bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	began := time.Now()
	rep, err := Run(ctx, Options{Scenarios: []string{"all"}, RepoDir: filepath.Join("..", ".."), WorkDir: filepath.Join(work, "logs"),
		CacheDir: filepath.Join(work, "cache"), Live: &syncWriter{w: &live}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, live.String())
	}
	t.Logf("all %d scenarios in %s (set-up %.1fs)", len(rep.Scenarios), time.Since(began).Round(time.Second), rep.SetupSeconds)
	for _, s := range rep.Scenarios {
		t.Logf("  %-22s %-12s pass=%v %.1fs", s.Name, s.Outcome, s.Pass, s.WallSeconds)
		for _, f := range s.Failures {
			t.Errorf("scenario %s: %s", s.Name, f)
		}
	}
	if !rep.Pass || len(rep.Scenarios) != len(Scenarios) {
		t.Fatalf("Pass = %v with %d scenarios; want every one of the %d to pass\n%s", rep.Pass, len(rep.Scenarios), len(Scenarios), live.String())
	}
	byName := map[string]ScenarioReport{}
	for _, s := range rep.Scenarios {
		byName[s.Name] = s
	}
	h := byName["healthy"]
	bake := false
	for _, s := range h.Stages {
		if s.Stage == "BAKE_TIME" && s.EmulatedSeconds > 250 && s.WallSeconds < 10 {
			bake = true // the template's 5-minute bake, compressed
		}
	}
	if !bake || h.Requests.Sent == 0 || len(h.Traffic) == 0 || len(h.Chat) == 0 || !strings.HasPrefix(h.Chat[0].Text, "✅ Deployed") {
		t.Errorf("healthy report: stages %+v, requests %+v, traffic %d phases, chat %+v", h.Stages, h.Requests, len(h.Traffic), h.Chat)
	}
	if r := byName["error-rate"].Reason; r == nil || !strings.Contains(r.Summary, alarmName) {
		t.Errorf("error-rate reason = %+v; want the alarm named", r)
	}
	if len(rep.NotCreated) == 0 {
		t.Error("the report lists no resource as not created locally (the environment's network at least)")
	}
	// Every scenario was judged on the invariants; every fault scenario says what it injected.
	for _, s := range rep.Scenarios {
		if len(s.Invariants) != 4 {
			t.Errorf("scenario %s: %d invariants checked; want 4", s.Name, len(s.Invariants))
		}
		if s.Group == GroupFaults && len(s.Injected) == 0 {
			t.Errorf("fault scenario %s reports nothing injected", s.Name)
		}
	}
	if p := byName["healthy"].Pushes; len(p) != 1 || p[0].Transitions < 20 || p[0].Timing == nil || p[0].Timing.PushToUpdateServiceSeconds <= 0 {
		t.Errorf("healthy push report %+v; want its transitions and timing", p)
	}
	// The human output has the timeline and the verdicts.
	for _, want := range []string{"BAKE_TIME", "5m0s (", "production traffic per phase", "PASS  burst", "result published: SUPERSEDED",
		"invariants: 4 of 4 held", "faults injected", "PASS  stopped-by-hand"} {
		if !strings.Contains(live.String(), want) {
			t.Errorf("the live output lacks %q", want)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	assertNoProcesses(t, work)
	_ = os.RemoveAll(work)
}

// TestCancelStopsEverything cancels a rehearsal mid-deployment (as Ctrl-C does in the
// command) and checks that no process it started is left: moto, the aws-lambda-rie
// emulators and their bootstraps, the app tasks.
func TestCancelStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server, aws-lambda-rie and the ECS emulator")
	}
	work := keptDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &watchWriter{on: "Step Functions: start", fire: cancel}
	_, err := Run(ctx, Options{Scenarios: []string{"healthy"}, RepoDir: filepath.Join("..", ".."), WorkDir: filepath.Join(work, "logs"),
		CacheDir: filepath.Join(work, "cache"), Live: w})
	if err != context.Canceled {
		t.Fatalf("Run after cancel = %v; want context.Canceled\n%s", err, w.String())
	}
	if !w.fired() {
		t.Fatalf("the rehearsal ended before the deployment started:\n%s", w.String())
	}
	assertNoProcesses(t, work)
	_ = os.RemoveAll(work)
}

// keptDir is a work directory removed only when the test passes (its logs explain a
// failure).
func keptDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "greenlight-rehearsal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs kept in %s", d)
		}
	})
	return d
}

// assertNoProcesses fails when a process whose command line names dir still runs: the
// test gives the rehearsal a work and cache directory of its own, and moto's launcher, every
// bootstrap (on aws-lambda-rie's command line too) and the sample app live there.
func assertNoProcesses(t *testing.T, dir string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		if err != nil || len(cmd) == 0 {
			continue // gone, or a zombie
		}
		if line := strings.ReplaceAll(string(cmd), "\x00", " "); strings.Contains(line, abs) {
			t.Errorf("process %s still runs: %s", pid, line)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// watchWriter calls fire once the output contains on.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	on   string
	fire func()
	done bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.on) {
		w.done = true
		go w.fire()
	}
	return n, err
}

func (w *watchWriter) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
