// Command greenlight-bench measures greenlight on this machine, in one run, with the real
// pieces: each Lambda bootstrap's size and its start-to-first-response time under
// aws-lambda-rie; each function's per-invocation time, the Step Functions transitions and
// the Lambda GB-seconds of a deployment, from rehearsals of the healthy scenario (the real
// state machine and bootstraps against moto and the ECS emulator); the wall time from a push
// to ECS's UpdateService and from ECS's terminal status to the published result; the smoke
// hook's time for 1, 10 and 50 tasks; and the AWS cost of a typical deployment computed
// from those figures. It writes docs/bench.md and docs/ko/bench.md with the machine the
// figures came from, and keeps every run in docs/bench/history.json so each report shows
// the previous run beside the new one.
//
//	go run ./cmd/greenlight-bench            # about a minute on 2 cores
//	go run ./cmd/greenlight-bench -runs 1 -cold 3 -no-write   # quicker, prints only
//	go run ./cmd/greenlight-bench -render    # rewrite the reports from the history (templates edited)
//
// It is a measurement, not a test: nothing in it asserts a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/rehearsal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	repo       string
	runs       int
	cold       int
	smokeRuns  int
	smokeTasks []int
	out, outKO string
	history    string
	write      bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("greenlight-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var tasks string
	fs.StringVar(&o.repo, "repo", "", "the greenlight source tree (default: the module root above the working directory)")
	fs.IntVar(&o.runs, "runs", 3, "rehearsals of the healthy scenario to measure (each about 15 s)")
	fs.IntVar(&o.cold, "cold", 5, "cold starts per function")
	fs.IntVar(&o.smokeRuns, "smoke-runs", 5, "smoke-hook runs per task count")
	fs.StringVar(&tasks, "smoke-tasks", "1,10,50", "task counts for the smoke-hook figure")
	fs.StringVar(&o.out, "out", "docs/bench.md", "the report (relative to the repository)")
	fs.StringVar(&o.outKO, "out-ko", "docs/ko/bench.md", "the Korean report (relative to the repository)")
	fs.StringVar(&o.history, "history", "docs/bench/history.json", "every run's figures (relative to the repository)")
	noWrite := fs.Bool("no-write", false, "print the figures only; write no file")
	render := fs.Bool("render", false, "measure nothing: write the reports again from the history's last run (after editing the templates)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./cmd/greenlight-bench [flags]\n\nMeasures greenlight on this machine and writes docs/bench.md (see the file for what each figure means).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.write = !*noWrite
	var err error
	if o.smokeTasks, err = parseCounts(tasks); err != nil {
		fmt.Fprintf(stderr, "greenlight-bench: -smoke-tasks %q: %v\n", tasks, err)
		return 2
	}
	if o.runs < 1 || o.cold < 1 || o.smokeRuns < 1 {
		fmt.Fprintln(stderr, "greenlight-bench: -runs, -cold and -smoke-runs must be at least 1")
		return 2
	}
	if o.repo == "" {
		if o.repo, err = rehearsal.FindRepo(); err != nil {
			fmt.Fprintf(stderr, "greenlight-bench: %v: run it from a clone (or pass -repo)\n", err)
			return 2
		}
	}
	hist, err := loadHistory(filepath.Join(o.repo, o.history))
	if err != nil {
		fmt.Fprintf(stderr, "greenlight-bench: %v\n", err)
		return 1
	}
	var r Run
	var prev *Run
	if *render {
		n := len(hist.Runs)
		if n == 0 {
			fmt.Fprintf(stderr, "greenlight-bench: -render: %s has no run yet; run the bench first\n", o.history)
			return 1
		}
		r = hist.Runs[n-1]
		if n > 1 {
			prev = &hist.Runs[n-2]
		}
	} else {
		b := &bench{o: o, log: stdout}
		if r, err = b.measure(ctx); err != nil {
			fmt.Fprintf(stderr, "greenlight-bench: %v\n", err)
			return 1
		}
		prev = hist.last()
		fmt.Fprintln(stdout)
		fmt.Fprint(stdout, summary(r, prev))
		if !o.write {
			return 0
		}
		hist.Runs = append(hist.Runs, r)
		if err := hist.save(filepath.Join(o.repo, o.history)); err != nil {
			fmt.Fprintf(stderr, "greenlight-bench: %v\n", err)
			return 1
		}
	}
	for _, doc := range []struct{ path, lang string }{{o.out, "en"}, {o.outKO, "ko"}} {
		md, err := renderReport(r, prev, hist.Runs, doc.lang)
		if err != nil {
			fmt.Fprintf(stderr, "greenlight-bench: %v\n", err)
			return 1
		}
		if err := os.WriteFile(filepath.Join(o.repo, doc.path), []byte(md), 0o644); err != nil {
			fmt.Fprintf(stderr, "greenlight-bench: %v\n", err)
			return 1
		}
	}
	if *render {
		fmt.Fprintf(stdout, "wrote %s and %s from the last run in %s\n", o.out, o.outKO, o.history)
		return 0
	}
	fmt.Fprintf(stdout, "\nwrote %s, %s and %s\n", o.out, o.outKO, o.history)
	return 0
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &n); err != nil || n < 1 || n > 200 {
			return nil, fmt.Errorf("want task counts from 1 to 200, comma-separated, such as 1,10,50")
		}
		out = append(out, n)
	}
	return out, nil
}

// bench runs the measurements, printing progress.
type bench struct {
	o   options
	log io.Writer
	t0  time.Time
}

func (b *bench) step(format string, a ...any) {
	fmt.Fprintf(b.log, "%6.1fs  %s\n", time.Since(b.t0).Seconds(), fmt.Sprintf(format, a...))
}
