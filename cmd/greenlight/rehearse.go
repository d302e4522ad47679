package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/cli"
	"github.com/greenlight-deploy/greenlight/internal/rehearsal"
)

func init() { register(rehearseCommand) }

// rehearseCommand is `greenlight rehearse`: the whole pipeline on this machine, against a
// local AWS and the ECS blue/green emulator (internal/rehearsal).
func rehearseCommand() *cli.Command {
	var (
		scenarios  string
		list       bool
		appCmd     string
		healthPath string
		routesFile string
		timeScale  float64
		rate       float64
		workDir    string
		timeout    time.Duration
	)
	return &cli.Command{
		Name:    "rehearse",
		Summary: "rehearse a blue/green deployment on this machine (local AWS, ECS emulator, the real Lambdas)",
		Usage:   "rehearse [--scenario NAME[,NAME…]|all|faults] [--list] [--app-cmd CMD] [--routes FILE] [--time-scale 0.01]",
		Description: `Runs the real pipeline on this machine, with no AWS account: moto_server as the local AWS,
every Lambda built as for AWS and run under aws-lambda-rie, the automation stack created from
template.yaml, the demo environment from environment/template.yaml, and greenlight's ECS
blue/green emulator playing ECS and the load balancer with real app processes. Each scenario
pushes images (ECR PutImage and the ECR push event) while steady traffic hits the production
listener, and prints the stages, the traffic per phase, the result and the chat messages.
The fault scenarios (--scenario faults) inject failures (ECS throttling, a Lambda killed
mid-invocation, a slow AWS, chat down, a push during a rollback, an execution stopped by
hand); after every scenario the invariants are checked (one result per deployment, no lock
left, no duplicate chat message, the ledger and ECS agree on what runs).

Exit status: 0 every scenario came out as expected, 1 one did not, 2 usage, 3 the machine lacks
something (moto 5.2.1, Go, a free port; the message names the fix), 130 interrupted.`,
		Examples: []string{
			"greenlight rehearse",
			"greenlight rehearse --scenario error-rate",
			"greenlight rehearse --scenario all -o json",
			"greenlight rehearse --scenario faults",
			"greenlight rehearse --app-cmd 'python3 app.py' --health-path /healthz",
			"greenlight rehearse --routes my-routes.yaml",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&scenarios, "scenario", "healthy", "scenario(s) to run, comma-separated, or all, or faults (see --list)")
			fs.BoolVar(&list, "list", false, "list the scenarios and exit")
			fs.StringVar(&appCmd, "app-cmd", "", "run this command (sh -c) for blue and green instead of the sample app; it must listen on $HOST:$PORT and answer the health path")
			fs.StringVar(&healthPath, "health-path", "/health", "path the load balancer's health check and the smoke test request")
			fs.StringVar(&routesFile, "routes", "", "rehearse this routes document's first route (pointed at the local demo service) instead of the template's quick-start route")
			fs.Float64Var(&timeScale, "time-scale", 0.01, "compression: wall time = AWS time × this (0.01: a 5-minute bake takes 3 s)")
			fs.Float64Var(&rate, "rate", 0, "production requests per second (0: enough for the 5xx-rate alarm's minimum traffic)")
			fs.StringVar(&workDir, "work-dir", "", "where the logs go (default .bin/rehearse/runs/<time>)")
			fs.DurationVar(&timeout, "timeout", 4*time.Minute, "give up on a scenario after this long")
		},
		Run: func(ctx context.Context, e *cli.Env, _ []string) error {
			if list {
				return e.Emit(scenarioList(), func(w io.Writer) { writeScenarioList(w) })
			}
			opts := rehearsal.Options{AppCmd: appCmd, HealthPath: healthPath, RoutesFile: routesFile, TimeScale: timeScale,
				RequestRate: rate, WorkDir: workDir, ScenarioTimeout: timeout}
			for _, s := range strings.Split(scenarios, ",") {
				if s = strings.TrimSpace(s); s != "" {
					opts.Scenarios = append(opts.Scenarios, s)
				}
			}
			if timeout <= 0 {
				return cli.Usagef("--timeout %s: want a positive duration such as 4m", timeout)
			}
			if !e.JSON() {
				opts.Live = e.Stdout
			}
			rep, err := rehearsal.Run(ctx, opts)
			if err != nil {
				var ue *rehearsal.UsageError
				var ee *rehearsal.EnvironmentError
				switch {
				case errors.As(err, &ue):
					return cli.Usagef("%s", ue.Error())
				case errors.As(err, &ee):
					return &cli.Error{Code: exitEnvironment, Err: ee}
				}
				return err
			}
			if err := e.Emit(rep, func(w io.Writer) { rep.WriteText(w) }); err != nil {
				return err
			}
			if !rep.Pass {
				failed := 0
				for _, s := range rep.Scenarios {
					if !s.Pass {
						failed++
					}
				}
				return cli.Failedf("%d of %d scenario(s) did not come out as expected", failed, len(rep.Scenarios))
			}
			return nil
		},
	}
}

// exitEnvironment is the rehearsal's "this machine lacks something" status (moto, Go, a
// port); it shares 3 with the other commands' "an AWS call failed".
const exitEnvironment = cli.ExitAWS

type scenarioInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Proves      string   `json:"proves"`
	Expect      []string `json:"expect"`
	SampleApp   bool     `json:"needsSampleApp"`
	Group       string   `json:"group,omitempty"`
}

func scenarioList() map[string]any {
	var out []scenarioInfo
	for _, s := range rehearsal.Scenarios {
		var exp []string
		for _, o := range s.Expected() {
			exp = append(exp, string(o))
		}
		out = append(out, scenarioInfo{Name: s.Name, Description: s.Description, Proves: s.Proves, Expect: exp, SampleApp: s.Faulty(), Group: s.Group})
	}
	return map[string]any{"scenarios": out}
}

func writeScenarioList(w io.Writer) {
	fmt.Fprintln(w, "Scenarios (greenlight rehearse --scenario NAME, or --scenario all):")
	group := ""
	for _, s := range rehearsal.Scenarios {
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(w, "Fault scenarios (--scenario %s):\n", group)
		}
		var exp []string
		for _, o := range s.Expected() {
			exp = append(exp, string(o))
		}
		fmt.Fprintf(w, "  %-21s → %-36s %s\n", s.Name, strings.Join(exp, ", "), s.Description)
	}
}
