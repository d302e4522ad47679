package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
)

//go:embed bench.md.tmpl
var reportEN string

//go:embed bench.ko.md.tmpl
var reportKO string

// view is what the report templates print: the run, the previous run, and the figures
// already formatted (numbers with their units, and the change from the previous run).
type view struct {
	R    Run
	Prev *Run
	// Same is false when the previous run came from another machine (its figures are then
	// shown but not compared).
	Same      bool
	Summary   []row
	Functions []fnRow
	Smoke     []smokeRow
	History   []histRow
	Stages    []StagePolls
}

type row struct{ Name, NameKO, Now, Prev, Change string }

type fnRow struct {
	Function
	Arm64, Host, Cold, Init, P50, P90, Max, PerDeployment string
	PrevArm64, PrevCold, PrevP50                          string
}

type smokeRow struct {
	Tasks                     int
	First, Median, PrevMedian string
}

type histRow struct {
	Date, Commit, Cost, Transitions, PushToUpdate, EndToResult, Smoke, Machine string
}

// renderReport is docs/bench.md (lang "en") or docs/ko/bench.md ("ko"): the run, compared
// with prev, and the history of runs (oldest first).
func renderReport(r Run, prev *Run, runs []Run, lang string) (string, error) {
	src := reportEN
	if lang == "ko" {
		src = reportKO
	}
	t, err := template.New("bench").Funcs(template.FuncMap{
		"ms": fmtMs, "usd": usd, "num": func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
		"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
		"f2": func(v float64) string { return fmt.Sprintf("%.2f", v) }, "f3": func(v float64) string { return fmt.Sprintf("%.3f", v) },
		"gbs": func(v float64) string { return fmt.Sprintf("%.4f", v) }, "date": func(r Run) string { return r.Date.Format("2006-01-02 15:04 UTC") },
	}).Parse(src)
	if err != nil {
		return "", err
	}
	v := newView(r, prev)
	v.History = historyRows(runs)
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// newView formats the figures.
func newView(r Run, prev *Run) view {
	v := view{R: r, Prev: prev, Stages: r.Typical.Stages}
	v.Same = prev != nil && prev.Machine.CPU == r.Machine.CPU && prev.Machine.Cores == r.Machine.Cores
	pf := func(name string) *Function {
		if prev == nil {
			return nil
		}
		for i := range prev.Functions {
			if prev.Functions[i].Name == name {
				return &prev.Functions[i]
			}
		}
		return nil
	}
	add := func(name, nameKO string, now float64, prevOf func(Run) float64, format func(float64) string) {
		rw := row{Name: name, NameKO: nameKO, Now: format(now), Prev: "—", Change: "—"}
		if prev != nil {
			p := prevOf(*prev)
			rw.Prev = format(p)
			rw.Change = change(now, p)
		}
		v.Summary = append(v.Summary, rw)
	}
	add("cost of a typical deployment (10 min + 5 min bake)", "일반적인 배포 한 번의 비용(배포 10분 + 베이크 5분)", r.Typical.Cost, func(p Run) float64 { return p.Typical.Cost }, usd)
	add("Step Functions transitions per typical deployment", "일반적인 배포 한 번의 Step Functions 상태 전환", float64(r.Typical.Transitions), func(p Run) float64 { return float64(p.Typical.Transitions) }, count)
	add("Lambda GB-s per typical deployment (with cold inits)", "일반적인 배포 한 번의 Lambda GB-초(콜드 초기화 포함)", r.Typical.GBSeconds+r.Typical.InitGBSeconds,
		func(p Run) float64 { return p.Typical.GBSeconds + p.Typical.InitGBSeconds }, func(x float64) string { return fmt.Sprintf("%.3f", x) })
	add("rehearsal: push → first UpdateService (median, s)", "리허설: 푸시 → 첫 UpdateService(중앙값, 초)", r.Rehearsal.PushToUpdateService.Median,
		func(p Run) float64 { return p.Rehearsal.PushToUpdateService.Median }, func(x float64) string { return fmt.Sprintf("%.2f", x) })
	add("rehearsal: ECS terminal status → result published (median, s)", "리허설: ECS 종료 상태 → 결과 게시(중앙값, 초)", r.Rehearsal.ECSEndToResult.Median,
		func(p Run) float64 { return p.Rehearsal.ECSEndToResult.Median }, func(x float64) string { return fmt.Sprintf("%.2f", x) })
	for _, s := range r.Smoke {
		tasks := s.Tasks
		add(fmt.Sprintf("smoke hook, %d task(s) (median, ms)", tasks), fmt.Sprintf("스모크 훅, 태스크 %d개(중앙값, ms)", tasks), s.Median, func(p Run) float64 {
			for _, x := range p.Smoke {
				if x.Tasks == tasks {
					return x.Median
				}
			}
			return math.NaN()
		}, fmtMs)
	}
	largest, slowest := 0.0, 0.0
	for _, f := range r.Functions {
		largest, slowest = math.Max(largest, f.SizeArm64), math.Max(slowest, f.ColdStart)
	}
	add("largest bootstrap, linux/arm64 (MB)", "가장 큰 부트스트랩, linux/arm64(MB)", largest, func(p Run) float64 {
		m := 0.0
		for _, f := range p.Functions {
			m = math.Max(m, f.SizeArm64)
		}
		return m
	}, func(x float64) string { return fmt.Sprintf("%.2f", x) })
	add("slowest start-to-first-response (median, ms)", "가장 느린 시작~첫 응답(중앙값, ms)", slowest, func(p Run) float64 {
		m := 0.0
		for _, f := range p.Functions {
			m = math.Max(m, f.ColdStart)
		}
		return m
	}, fmtMs)

	for _, f := range r.Functions {
		fr := fnRow{Function: f, Arm64: fmt.Sprintf("%.2f", f.SizeArm64), Host: fmt.Sprintf("%.2f", f.SizeHost), Cold: fmtMs(f.ColdStart), Init: fmtMs(f.Init),
			P50: "—", P90: "—", Max: "—", PerDeployment: "—", PrevArm64: "—", PrevCold: "—", PrevP50: "—"}
		if f.Invocations > 0 {
			fr.P50, fr.P90, fr.Max, fr.PerDeployment = fmtMs(f.P50), fmtMs(f.P90), fmtMs(f.Max), fmt.Sprintf("%.0f", f.PerDeployment)
		}
		if p := pf(f.Name); p != nil {
			fr.PrevArm64, fr.PrevCold = fmt.Sprintf("%.2f", p.SizeArm64), fmtMs(p.ColdStart)
			if p.Invocations > 0 {
				fr.PrevP50 = fmtMs(p.P50)
			}
		}
		v.Functions = append(v.Functions, fr)
	}
	for _, s := range r.Smoke {
		sr := smokeRow{Tasks: s.Tasks, First: fmtMs(s.First), Median: fmtMs(s.Median), PrevMedian: "—"}
		if prev != nil {
			for _, x := range prev.Smoke {
				if x.Tasks == s.Tasks {
					sr.PrevMedian = fmtMs(x.Median)
				}
			}
		}
		v.Smoke = append(v.Smoke, sr)
	}
	return v
}

// historyRows is the history table, newest first.
func historyRows(runs []Run) []histRow {
	var out []histRow
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		smoke := "—"
		if n := len(r.Smoke); n > 0 {
			smoke = fmtMs(r.Smoke[n-1].Median)
		}
		out = append(out, histRow{Date: r.Date.Format("2006-01-02 15:04"), Commit: r.Commit, Cost: usd(r.Typical.Cost), Transitions: count(float64(r.Typical.Transitions)),
			PushToUpdate: fmt.Sprintf("%.2f", r.Rehearsal.PushToUpdateService.Median), EndToResult: fmt.Sprintf("%.2f", r.Rehearsal.ECSEndToResult.Median),
			Smoke: smoke, Machine: fmt.Sprintf("%s, %d cores", r.Machine.CPU, r.Machine.Cores)})
	}
	return out
}

func usd(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 0.01:
		return fmt.Sprintf("$%.4f", v)
	case v >= 0.0001:
		return fmt.Sprintf("$%.5f", v)
	}
	return fmt.Sprintf("$%.7f", v)
}

func count(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

// change is the relative change from prev to now: "+12%", "−3%", "0%".
func change(now, prev float64) string {
	if math.IsNaN(prev) || prev == 0 {
		return "—"
	}
	c := (now - prev) / prev * 100
	switch {
	case math.Abs(c) < 0.5:
		return "0%"
	case c > 0:
		return fmt.Sprintf("+%.0f%%", c)
	}
	return fmt.Sprintf("−%.0f%%", -c)
}

// summary is what the command prints: the headline figures beside the previous run's.
func summary(r Run, prev *Run) string {
	v := newView(r, prev)
	var b strings.Builder
	fmt.Fprintf(&b, "greenlight bench, %s (%s), %s, %d cores\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Commit, r.Machine.CPU, r.Machine.Cores)
	fmt.Fprintf(&b, "%-64s %14s %14s %8s\n", "figure", "this run", "previous", "change")
	for _, rw := range v.Summary {
		fmt.Fprintf(&b, "%-64s %14s %14s %8s\n", rw.Name, rw.Now, rw.Prev, rw.Change)
	}
	return b.String()
}
