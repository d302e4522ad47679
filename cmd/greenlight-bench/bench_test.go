package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReports(t *testing.T) {
	log := "29 Nov 2026 09:26:06,337 [INFO] (rapid) INIT REPORT(durationMs: 15.628000)\n" +
		"START RequestId: a Version: $LATEST\n" +
		"REPORT RequestId: 7a67ff36\tInit Duration: 0.02 ms\tDuration: 23.56 ms\tBilled Duration: 24 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t\n" +
		"{\"level\":\"INFO\",\"msg\":\"REPORT is not this\"}\n" +
		"REPORT RequestId: 5aa94037\tDuration: 8.48 ms\tBilled Duration: 9 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t\n"
	got := reports(log)
	if len(got) != 2 || got[0] != (invocation{23.56, 24}) || got[1] != (invocation{8.48, 9}) {
		t.Errorf("reports = %+v", got)
	}
	if v, ok := initReport(log); !ok || v != 15.628 {
		t.Errorf("initReport = %v, %v", v, ok)
	}
	if _, ok := initReport("nothing"); ok {
		t.Error("initReport found an init in a log without one")
	}
	for in, want := range map[string]string{"greenlight-CheckFunction.log": "check", "greenlight-SmokeTestFunction.log": "smoketest", "greenlight-NotifyFunction.log": "notify"} {
		if got := functionName(in); got != want {
			t.Errorf("functionName(%s) = %s; want %s", in, got, want)
		}
	}
}

func TestSpread(t *testing.T) {
	s := spread([]float64{5, 1, 3, 9, 7})
	if s != (Spread{Median: 5, Min: 1, Max: 9}) {
		t.Errorf("spread = %+v", s)
	}
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(sorted, 90); p != 9 {
		t.Errorf("p90 = %v; want 9 (nearest rank)", p)
	}
	if p := percentile(sorted, 50); p != 5 {
		t.Errorf("p50 = %v; want 5", p)
	}
	if spread(nil) != (Spread{}) {
		t.Error("spread of nothing")
	}
}

// TestPollSchedule: the typical deployment's looks follow deploy.AdaptiveWait at AWS speed
// with the default bounds (docs/bench.md's table).
func TestPollSchedule(t *testing.T) {
	stages, total := pollSchedule()
	want := map[string]int{"PRE_SCALE_UP": 3, "SCALE_UP": 11, "POST_SCALE_UP": 6, "TEST_TRAFFIC_SHIFT": 6, "POST_TEST_TRAFFIC_SHIFT": 6,
		"PRODUCTION_TRAFFIC_SHIFT": 10, "POST_PRODUCTION_TRAFFIC_SHIFT": 3, "BAKE_TIME": 5, "CLEAN_UP": 3}
	for _, s := range stages {
		if s.Polls != want[s.Stage] {
			t.Errorf("%s: %d looks (wait %d → %d s); want %d", s.Stage, s.Polls, s.WaitSeconds, s.LastWaitSecs, want[s.Stage])
		}
	}
	if total != 53 || len(stages) != len(want) {
		t.Errorf("%d looks over %d stages; want 53 over %d", total, len(stages), len(want))
	}
	// Long production shifts back off: a CANARY's 10-minute wait, LINEAR's 54 and 198 minutes.
	ty := typical(Run{})
	wantLong := []ShiftPolls{{"CANARY, 5 % for 10 min", 10, 22, 120}, {"LINEAR, 10 % every 6 min", 54, 66, 648}, {"LINEAR, 3 % every 6 min", 198, 210, 2376}}
	if !reflect.DeepEqual(ty.LongShifts, wantLong) {
		t.Errorf("long shifts = %v; want %v", ty.LongShifts, wantLong)
	}
}

// TestTypical: the cost follows from the measured figures and the prices.
func TestTypical(t *testing.T) {
	r := Run{Prices: prices,
		Rehearsal: Rehearsal{Fixed: 16, PerPoll: 5, Polls: 4},
		Functions: []Function{
			{Name: "check", Invocations: 8, Billed: 80, PerDeployment: 4, PerPoll: 1, Init: 15.2},  // 10 ms each
			{Name: "watch", Invocations: 10, Billed: 50, PerDeployment: 5, PerPoll: 1, Init: 14.1}, // preflight + 4
			{Name: "resolve", Invocations: 2, Billed: 40, PerDeployment: 1, Init: 20},
			{Name: "reconcile", Init: 30}, // never invoked in a deployment
		}}
	ty := typical(r)
	if ty.Polls != 53 || ty.Transitions != 16+53*5 || ty.Minutes != 15 {
		t.Fatalf("typical = %d looks, %d transitions, %v min", ty.Polls, ty.Transitions, ty.Minutes)
	}
	if ty.Requests != 53+54+1 {
		t.Errorf("requests = %v; want 108 (check 53, watch 1 + 53, resolve 1)", ty.Requests)
	}
	gb := 0.125
	wantGBs := (53*10 + 54*5 + 1*20) / 1000.0 * gb
	wantInit := (16 + 15 + 20) / 1000.0 * gb
	if math.Abs(ty.GBSeconds-wantGBs) > 1e-9 || math.Abs(ty.InitGBSeconds-wantInit) > 1e-9 {
		t.Errorf("GB-s = %v + %v; want %v + %v", ty.GBSeconds, ty.InitGBSeconds, wantGBs, wantInit)
	}
	wantCost := 281.0/1000*0.025 + 108/1e6*0.20 + (wantGBs+wantInit)*0.0000133334
	if math.Abs(ty.Cost-wantCost) > 1e-12 || math.Abs(ty.Cost-(ty.CostTransitions+ty.CostRequests+ty.CostCompute)) > 1e-12 {
		t.Errorf("cost = %v; want %v", ty.Cost, wantCost)
	}
}

func sampleRun(date time.Time, cost float64) Run {
	r := Run{Version: RunVersion, Date: date, Commit: "abc123", Prices: prices,
		Machine:   Machine{CPU: "Test CPU", Cores: 2, MemoryGB: 24, OS: "Debian", Go: "go1.26.8"},
		Functions: []Function{{Name: "check", SizeArm64: 11.93, SizeHost: 12.6, ColdStart: 42.1, ColdRuns: 5, Init: 16.2, Invocations: 12, P50: 8.1, P90: 12.5, Max: 24, Billed: 120, PerDeployment: 4, PerPoll: 1}},
		Rehearsal: Rehearsal{Runs: 3, Transitions: 36, Fixed: 16, PerPoll: 5, Polls: 4, PushToUpdateService: Spread{1.02, 0.9, 1.3}, ECSEndToResult: Spread{1.18, 1.1, 1.4}},
		Smoke:     []SmokeFigure{{Tasks: 1, First: 0.5, Median: 0.06, Runs: 5}, {Tasks: 50, First: 7, Median: 2.7, Runs: 5}},
	}
	r.Typical = typical(r)
	r.Typical.Cost = cost
	return r
}

// TestReportAndHistory: both reports show this run, the previous one and the change; the
// history keeps every run, up to keepRuns.
func TestReportAndHistory(t *testing.T) {
	prev := sampleRun(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), 0.0080)
	now := sampleRun(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), 0.0088)
	for _, lang := range []string{"en", "ko"} {
		md, err := renderReport(now, &prev, []Run{prev, now}, lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"$0.0088", "$0.0080", "+10%", "Test CPU", "abc123", "11.93", "42.1", "| 50 | 7.00 | 2.70 | 2.70 |", "2026-11-01 10:00", "2026-11-29 10:00", "| SCALE_UP | 4.0 | 15 → 56 | 11 |", "| LINEAR, 10 % every 6 min | 54.0 | 66 | 648 |", "$0.0000133334", "$0.025"} {
			if !strings.Contains(md, want) {
				t.Errorf("%s report lacks %q", lang, want)
			}
		}
		if strings.Contains(md, "<no value>") || strings.Contains(md, "%!") {
			t.Errorf("%s report has a template or format error:\n%s", lang, md)
		}
	}
	md, _ := renderReport(now, nil, []Run{now}, "en")
	if !strings.Contains(md, "none (this is the first run in the history)") {
		t.Error("a first run does not say there is no previous one")
	}
	if s := summary(now, &prev); !strings.Contains(s, "+10%") {
		t.Errorf("summary = %s", s)
	}

	path := filepath.Join(t.TempDir(), "bench", "history.json")
	h, err := loadHistory(path)
	if err != nil || h.last() != nil {
		t.Fatalf("a missing history = %+v, %v; want empty", h, err)
	}
	for i := 0; i < keepRuns+3; i++ {
		h.Runs = append(h.Runs, sampleRun(time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), float64(i)))
	}
	if err := h.save(path); err != nil {
		t.Fatal(err)
	}
	h2, err := loadHistory(path)
	if err != nil || len(h2.Runs) != keepRuns || h2.last().Typical.Cost != float64(keepRuns+2) || h2.Runs[0].Typical.Cost != 3 {
		t.Fatalf("history after save: %d runs, %v", len(h2.Runs), err)
	}
}

func TestChange(t *testing.T) {
	for _, tc := range []struct {
		now, prev float64
		want      string
	}{{110, 100, "+10%"}, {97, 100, "−3%"}, {100.2, 100, "0%"}, {1, 0, "—"}, {1, math.NaN(), "—"}} {
		if got := change(tc.now, tc.prev); got != tc.want {
			t.Errorf("change(%v, %v) = %s; want %s", tc.now, tc.prev, got, tc.want)
		}
	}
	if _, err := parseCounts("1,10,50"); err != nil {
		t.Error(err)
	}
	if _, err := parseCounts("1,x"); err == nil {
		t.Error("parseCounts(1,x): no error")
	}
}

// TestRender: -render writes both reports from the history's last two runs and measures
// nothing; without a history it says to run the bench first.
func TestRender(t *testing.T) {
	repo := t.TempDir()
	for _, d := range []string{"docs/ko", "docs/bench"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out, errs strings.Builder
	if code := run(context.Background(), []string{"-repo", repo, "-render"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "run the bench first") {
		t.Fatalf("-render without a history: exit %d, %s", code, errs.String())
	}
	h := &history{Runs: []Run{sampleRun(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 0.008), sampleRun(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 0.009)}}
	if err := h.save(filepath.Join(repo, "docs/bench/history.json")); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"-repo", repo, "-render"}, &out, &errs); code != 0 {
		t.Fatalf("-render: exit %d, %s", code, errs.String())
	}
	for _, p := range []string{"docs/bench.md", "docs/ko/bench.md"} {
		b, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil || !strings.Contains(string(b), "$0.0090") || !strings.Contains(string(b), "+12%") {
			t.Errorf("%s after -render: %v\n%s", p, err, b)
		}
	}
	if h2, _ := loadHistory(filepath.Join(repo, "docs/bench/history.json")); len(h2.Runs) != 2 {
		t.Errorf("-render changed the history: %d runs", len(h2.Runs))
	}
}
