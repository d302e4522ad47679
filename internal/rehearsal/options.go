package rehearsal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// Options configures Run. The zero value rehearses the healthy scenario from the repository
// containing the working directory.
type Options struct {
	// Scenarios are scenario names; "all" runs every one. Empty means healthy.
	Scenarios []string
	// AppCmd replaces the sample app for blue and green: a shell command line run with PORT
	// (and HOST, the task's own loopback address) set; it must answer HealthPath with 200.
	AppCmd string
	// HealthPath is what the load balancer and the smoke test check; default /health.
	HealthPath string
	// RoutesFile replaces the routes document (its first route is rehearsed).
	RoutesFile string
	// TimeScale compresses emulated time: wall = emulated × TimeScale. Default 0.01.
	TimeScale float64
	// RequestRate is the traffic generator's requests per second; 0 picks one high enough
	// for the 5xx-rate alarm's minimum-traffic guard at the time scale.
	RequestRate float64
	// RepoDir is the greenlight source tree (template.yaml, functions/, app/); default: the
	// directory holding go.mod above the working directory.
	RepoDir string
	// CacheDir keeps the built bootstraps, the sample app and aws-lambda-rie between runs;
	// default <RepoDir>/.bin/rehearse.
	CacheDir string
	// WorkDir receives the logs of moto, each Lambda, each task, the receiver and the
	// rehearsal itself; default a new directory under CacheDir/runs. It is kept.
	WorkDir string
	// Live receives the human timeline as it happens; nil prints nothing.
	Live io.Writer
	// Python runs moto_server and the SAM translator; default python3.
	Python string
	// ScenarioTimeout bounds one scenario; default 4 minutes.
	ScenarioTimeout time.Duration
}

const defaultScenarioTimeout = 4 * time.Minute

// UsageError is bad input: a flag value, a scenario name, a routes file (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// EnvironmentError is a problem with the machine, not with greenlight: moto missing or at
// the wrong version, Go missing, a build that fails, no free port (exit 3). Its message names
// the fix.
type EnvironmentError struct{ Err error }

func (e *EnvironmentError) Error() string { return e.Err.Error() }
func (e *EnvironmentError) Unwrap() error { return e.Err }

func envErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *EnvironmentError
	if errors.As(err, &ee) {
		return err
	}
	return &EnvironmentError{Err: err}
}

func envErrf(format string, a ...any) error { return &EnvironmentError{Err: fmt.Errorf(format, a...)} }

// resolved is Options with its defaults applied and checked.
type resolved struct {
	Options
	scenarios []Scenario
	leftOut   []string
	log       *slog.Logger
	// container is the rehearsed route's container: the demo environment's ContainerName.
	container string
}

func (o Options) resolve() (*resolved, error) {
	r := &resolved{Options: o}
	if r.TimeScale == 0 {
		r.TimeScale = ecsemu.DefaultTimeScale
	}
	if r.TimeScale < 0 || r.TimeScale > 1 || math.IsNaN(r.TimeScale) {
		return nil, usagef("--time-scale %v: want a number in (0, 1], such as 0.01 (one emulated minute takes 0.6 s)", o.TimeScale)
	}
	if r.TimeScale < 0.001 {
		return nil, usagef("--time-scale %v: below 0.001 a health-check interval is shorter than a request on a busy machine; use 0.001 or more", o.TimeScale)
	}
	if r.RequestRate < 0 || r.RequestRate > 1000 {
		return nil, usagef("--rate %v: want requests per second from 1 to 1000 (0 picks one)", o.RequestRate)
	}
	if r.HealthPath == "" {
		r.HealthPath = "/health"
	}
	if !strings.HasPrefix(r.HealthPath, "/") {
		return nil, usagef("--health-path %q: want a path starting with /, such as /health", r.HealthPath)
	}
	r.AppCmd = strings.TrimSpace(r.AppCmd)
	sc, left, err := selectScenarios(r.Scenarios, r.AppCmd != "")
	if err != nil {
		return nil, err
	}
	r.scenarios, r.leftOut = sc, left
	r.container = "app"
	if r.RoutesFile != "" {
		b, err := os.ReadFile(r.RoutesFile)
		if err != nil {
			return nil, usagef("--routes %s: %v", r.RoutesFile, err)
		}
		doc, err := routes.Parse(b)
		if err != nil {
			return nil, usagef("--routes %s: %v", r.RoutesFile, err)
		}
		if len(doc.Routes) == 0 {
			return nil, usagef("--routes %s has no route to rehearse", r.RoutesFile)
		}
		first := &doc.Routes[0]
		if len(first.Targets) > 0 && first.Targets[0].Container != "" {
			r.container = first.Targets[0].Container
		}
		for _, s := range r.scenarios {
			for _, p := range s.Pushes {
				if p.Tag != "" && !first.MatchesTag(p.Tag) {
					return nil, usagef("--routes %s: route %s's tagPattern %q does not match %s, a tag the rehearsal pushes; make the pattern accept tags like v1.2.3 to rehearse this route", r.RoutesFile, first.Name, first.TagPattern, p.Tag)
				}
			}
		}
	}
	if r.Python == "" {
		r.Python = "python3"
	}
	if r.ScenarioTimeout == 0 {
		r.ScenarioTimeout = defaultScenarioTimeout
	}
	if r.RepoDir == "" {
		dir, err := FindRepo()
		if err != nil {
			return nil, usagef("%v: the rehearsal builds the Lambdas from it; run it from a clone of greenlight (or pass its path)", err)
		}
		r.RepoDir = dir
	}
	abs, err := filepath.Abs(r.RepoDir)
	if err != nil {
		return nil, err
	}
	r.RepoDir = abs
	for _, f := range []string{"template.yaml", "environment/template.yaml", "statemachine/deploy.asl.json", "functions", "app"} {
		if _, err := os.Stat(filepath.Join(r.RepoDir, f)); err != nil {
			return nil, usagef("%s is not a greenlight source tree (no %s): run the rehearsal from a clone of greenlight", r.RepoDir, f)
		}
	}
	if r.CacheDir == "" {
		r.CacheDir = filepath.Join(r.RepoDir, ".bin", "rehearse")
	}
	return r, nil
}

// FindRepo walks up from the working directory to the greenlight module's root (the
// rehearsal and the bench build the Lambdas from it).
func FindRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/greenlight-deploy/greenlight\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no greenlight source tree above %s", dir)
		}
	}
}

// requestRate is the generator's rate: at least twice the alarm's minimum traffic per
// emulated minute, so the alarm's guard never hides a real error rate; at least 20/s.
func requestRate(o Options, minRequestsPerMinute int) float64 {
	if o.RequestRate > 0 {
		return o.RequestRate
	}
	need := 2 * float64(minRequestsPerMinute) / (60 * o.TimeScale)
	return math.Min(300, math.Max(20, math.Ceil(need)))
}
