package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/rehearsal"
)

// loopStates are the states the state machine enters once per look at the service
// deployment (the adaptive poll loop).
var loopStates = []string{"Wait to check", "Check", "Watch during?", "Watch during", "Done?"}

// rehearse runs the healthy scenario b.o.runs times (each a whole rehearsal: moto, the
// bootstraps under aws-lambda-rie, the ECS emulator) and reads from each the execution's
// transitions, the push's timings and every function's REPORT lines.
func (b *bench) rehearse(ctx context.Context) (Rehearsal, map[string]Function, error) {
	work, err := os.MkdirTemp("", "greenlight-bench-rehearsal-")
	if err != nil {
		return Rehearsal{}, nil, err
	}
	defer os.RemoveAll(work)
	var (
		trans, polls, loop, toUpdate, toResult, wall []float64
		perRun                                       = map[string][]float64{} // invocations per run
		watchPerPoll                                 []float64
		durations                                    = map[string][]float64{}
		billed                                       = map[string]float64{}
	)
	for i := 0; i < b.o.runs; i++ {
		rep, err := rehearsal.Run(ctx, rehearsal.Options{Scenarios: []string{"healthy"}, RepoDir: b.o.repo,
			WorkDir: filepath.Join(work, fmt.Sprintf("run-%d", i))})
		if err != nil {
			return Rehearsal{}, nil, fmt.Errorf("rehearsal %d: %w", i+1, err)
		}
		if !rep.Pass || len(rep.Scenarios) != 1 || len(rep.Scenarios[0].Pushes) != 1 {
			return Rehearsal{}, nil, fmt.Errorf("rehearsal %d did not come out as expected (logs: %s): %v", i+1, rep.Logs, failures(rep))
		}
		sc := rep.Scenarios[0]
		p := sc.Pushes[0]
		if p.Timing == nil {
			return Rehearsal{}, nil, fmt.Errorf("rehearsal %d: the push has no timing", i+1)
		}
		n := 0
		for _, s := range loopStates {
			n += p.States[s]
		}
		trans = append(trans, float64(p.Transitions))
		loop = append(loop, float64(n))
		polls = append(polls, float64(p.States["Check"]))
		if c := p.States["Check"]; c > 0 {
			watchPerPoll = append(watchPerPoll, float64(p.States["Watch during"])/float64(c))
		}
		toUpdate = append(toUpdate, p.Timing.PushToUpdateServiceSeconds)
		toResult = append(toResult, p.Timing.ECSEndToResultSeconds)
		wall = append(wall, sc.WallSeconds)
		logs, _ := filepath.Glob(filepath.Join(rep.Logs, "lambda", "*.log"))
		seen := map[string]bool{}
		for _, path := range logs {
			raw, err := os.ReadFile(path)
			if err != nil {
				return Rehearsal{}, nil, err
			}
			name := functionName(filepath.Base(path))
			inv := reports(string(raw))
			for _, v := range inv {
				durations[name] = append(durations[name], v.duration)
				billed[name] += v.billed
			}
			perRun[name] = append(perRun[name], float64(len(inv)))
			seen[name] = true
		}
		b.step("rehearsal %d/%d: %d transitions (%d looks at the deployment), push → UpdateService %.2f s, ECS done → result %.2f s",
			i+1, b.o.runs, p.Transitions, p.States["Check"], p.Timing.PushToUpdateServiceSeconds, p.Timing.ECSEndToResultSeconds)
	}
	runs := float64(b.o.runs)
	r := Rehearsal{Runs: b.o.runs, Transitions: int(spread(trans).Median), Polls: spread(polls).Median,
		PushToUpdateService: spread(toUpdate), ECSEndToResult: spread(toResult), Wall: spread(wall)}
	if r.Polls > 0 {
		r.PerPoll = spread(loop).Median / r.Polls
	}
	r.Fixed = r.Transitions - int(spread(loop).Median)
	fns := map[string]Function{}
	for name, ds := range durations {
		sort.Float64s(ds)
		f := Function{Name: name, Invocations: len(ds), P50: percentile(ds, 50), P90: percentile(ds, 90), Max: ds[len(ds)-1], Billed: billed[name]}
		f.PerDeployment = float64(len(ds)) / runs
		switch name {
		case "check":
			f.PerPoll = 1
		case "watch":
			f.PerPoll = spread(watchPerPoll).Median
		}
		r.Requests += f.PerDeployment
		r.GBSeconds += billed[name] / 1000 * float64(prices.MemoryMB) / 1024 / runs
		fns[name] = f
	}
	return r, fns, nil
}

func failures(rep rehearsal.Report) string {
	var out []string
	for _, s := range rep.Scenarios {
		out = append(out, s.Failures...)
	}
	return strings.Join(out, "; ")
}
