package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// RunVersion is the version of a run's JSON in the history (fields are only ever added).
const RunVersion = 1

// Run is one bench run's figures.
type Run struct {
	Version int       `json:"version"`
	Date    time.Time `json:"date"`
	// Commit is the source the figures were measured on ("+dirty" with local changes).
	Commit      string        `json:"commit"`
	Machine     Machine       `json:"machine"`
	Prices      Prices        `json:"prices"`
	Functions   []Function    `json:"functions"`
	Rehearsal   Rehearsal     `json:"rehearsal"`
	Typical     Typical       `json:"typical"`
	Smoke       []SmokeFigure `json:"smoke"`
	WallSeconds float64       `json:"wallSeconds"`
}

// Machine is where the figures came from.
type Machine struct {
	CPU      string  `json:"cpu"`
	Cores    int     `json:"cores"`
	MemoryGB float64 `json:"memoryGiB"`
	OS       string  `json:"os"`
	Kernel   string  `json:"kernel"`
	Arch     string  `json:"arch"`
	Go       string  `json:"go"`
	// Load is the 1-minute load average when the run began (other work on the machine).
	Load float64 `json:"load1"`
}

// Prices are the public list prices the cost is computed with.
type Prices struct {
	Region string `json:"region"`
	// AsOf is when the prices were read, and Source where.
	AsOf                      string  `json:"asOf"`
	Source                    string  `json:"source"`
	TransitionsPerThousandUSD float64 `json:"stepFunctionsStandardPer1000TransitionsUSD"`
	GBSecondUSD               float64 `json:"lambdaArm64PerGBSecondUSD"`
	RequestsPerMillionUSD     float64 `json:"lambdaPerMillionRequestsUSD"`
	MemoryMB                  int     `json:"lambdaMemoryMB"`
}

// prices are us-east-1's list prices (aws.amazon.com/step-functions/pricing and
// aws.amazon.com/lambda/pricing: Standard workflows, Lambda on Arm, first pricing tier), and
// the template's 128 MB functions.
var prices = Prices{Region: "us-east-1", AsOf: "2026-11", Source: "aws.amazon.com/step-functions/pricing, aws.amazon.com/lambda/pricing (Arm, first tier)",
	TransitionsPerThousandUSD: 0.025, GBSecondUSD: 0.0000133334, RequestsPerMillionUSD: 0.20, MemoryMB: 128}

// Function is one Lambda's figures.
type Function struct {
	Name string `json:"name"`
	// SizeArm64 is the stripped linux/arm64 bootstrap (what is deployed), SizeHost the one
	// measured here, in MB (10^6 bytes).
	SizeArm64 float64 `json:"sizeArm64MB"`
	SizeHost  float64 `json:"sizeHostMB"`
	// ColdStart is the median, over ColdRuns, of aws-lambda-rie's start to the response of
	// the first invocation (the function's sample event from events/), in ms; Init the
	// median of the bootstrap's own init as aws-lambda-rie reports it (INIT REPORT).
	ColdStart float64 `json:"coldStartMs"`
	Init      float64 `json:"initMs"`
	ColdRuns  int     `json:"coldRuns"`
	// Invocations, P50, P90, Max: the function's invocations in the rehearsals and their
	// durations (REPORT Duration, ms); Billed is their billed milliseconds in all.
	Invocations int     `json:"invocations"`
	P50         float64 `json:"p50Ms"`
	P90         float64 `json:"p90Ms"`
	Max         float64 `json:"maxMs"`
	Billed      float64 `json:"billedMs"`
	// PerDeployment is its invocations per rehearsed deployment; PerPoll those that repeat
	// with every look at the deployment (check, watch).
	PerDeployment float64 `json:"invocationsPerDeployment"`
	PerPoll       float64 `json:"invocationsPerPoll"`
}

// Rehearsal is what the healthy-scenario rehearsals measured.
type Rehearsal struct {
	Runs int `json:"runs"`
	// Transitions of one deployment: Fixed once, PerPoll with each look at the deployment,
	// Polls looks in the rehearsal (time compressed, so fewer than on AWS).
	Transitions int     `json:"transitions"`
	Fixed       int     `json:"fixedTransitions"`
	PerPoll     float64 `json:"transitionsPerPoll"`
	Polls       float64 `json:"polls"`
	// GBSeconds and Requests of one rehearsed deployment's Lambda invocations.
	GBSeconds float64 `json:"gbSeconds"`
	Requests  float64 `json:"requests"`
	// PushToUpdateService and ECSEndToResult, in seconds: median, min, max over the runs.
	PushToUpdateService Spread `json:"pushToUpdateServiceSeconds"`
	ECSEndToResult      Spread `json:"ecsEndToResultSeconds"`
	// Wall is the healthy scenario's wall time (push to the last chat message), median.
	Wall Spread `json:"scenarioSeconds"`
}

// Spread is a median with its range.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Spread{Median: percentile(s, 50), Min: s[0], Max: s[len(s)-1]}
}

// percentile of sorted xs (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// SmokeFigure is the smoke hook's time for one number of tasks.
type SmokeFigure struct {
	Tasks int `json:"tasks"`
	// First is the first run (new connections), Median the median of the others, in ms.
	First  float64 `json:"firstMs"`
	Median float64 `json:"medianMs"`
	Runs   int     `json:"runs"`
	Checks int     `json:"checksPerTask"`
}

// measure runs every measurement.
func (b *bench) measure(ctx context.Context) (Run, error) {
	b.t0 = time.Now()
	r := Run{Version: RunVersion, Date: time.Now().UTC(), Prices: prices}
	r.Machine = machine()
	r.Commit = commit(b.o.repo)
	b.step("machine: %s, %d cores, %.0f GiB, %s, %s (load %.2f)", r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryGB, r.Machine.OS, r.Machine.Go, r.Machine.Load)

	fns, err := b.functions(ctx)
	if err != nil {
		return r, err
	}
	reh, perFn, err := b.rehearse(ctx)
	if err != nil {
		return r, err
	}
	for i := range fns {
		if f, ok := perFn[fns[i].Name]; ok {
			f.Name, f.SizeArm64, f.SizeHost, f.ColdStart, f.ColdRuns, f.Init = fns[i].Name, fns[i].SizeArm64, fns[i].SizeHost, fns[i].ColdStart, fns[i].ColdRuns, fns[i].Init
			fns[i] = f
		}
	}
	r.Functions, r.Rehearsal = fns, reh
	r.Typical = typical(r)
	if r.Smoke, err = b.smoke(ctx); err != nil {
		return r, err
	}
	r.WallSeconds = time.Since(b.t0).Seconds()
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mb(bytes int64) float64 { return math.Round(float64(bytes)/1e4) / 100 }

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
