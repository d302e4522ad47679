package rehearsal

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// ReportVersion is the version of the JSON document (fields are only ever added).
const ReportVersion = 1

// Report is what a rehearsal found. With one scenario, that scenario's fields (outcome,
// reason, stages, traffic …) are also at the top level of the JSON document.
type Report struct {
	Version int  `json:"version"`
	Pass    bool `json:"pass"`
	*ScenarioReport
	Scenarios []ScenarioReport `json:"scenarios"`
	// LeftOut are scenarios "all" did not run (they need the sample app's fault switches).
	LeftOut      []string          `json:"leftOut,omitempty"`
	TimeScale    float64           `json:"timeScale"`
	SetupSeconds float64           `json:"setupSeconds"`
	WallSeconds  float64           `json:"wallSeconds"`
	Logs         string            `json:"logs,omitempty"`
	NotCreated   []SkippedResource `json:"notCreatedLocally,omitempty"`
	Notes        []string          `json:"notes,omitempty"`
}

// ScenarioReport is one scenario's outcome, with its evidence.
type ScenarioReport struct {
	Name        string `json:"scenario"`
	Description string `json:"description"`
	Proves      string `json:"proves"`
	Pass        bool   `json:"pass"`
	// Outcome and Reason are the primary push's result.
	Outcome  string         `json:"outcome"`
	Reason   *ReasonReport  `json:"reason"`
	Expected ExpectedReport `json:"expected"`
	Pushes   []PushReport   `json:"pushes"`
	// Stages of every service deployment the pushes started, in order, with the time each
	// took at AWS speed (emulated) and here (wall).
	Stages []StageReport `json:"stages"`
	// Traffic is the production listener's requests per phase.
	Traffic  []PhaseReport `json:"traffic"`
	Requests RequestStats  `json:"requests"`
	Chat     []ChatMessage `json:"chat"`
	// Failures are the expectations that did not hold (empty when Pass).
	Failures    []string `json:"failures"`
	WallSeconds float64  `json:"wallSeconds"`
	// Group is "faults" for a fault scenario; Injected says what it injected and how much.
	Group    string   `json:"group,omitempty"`
	Injected []string `json:"injected,omitempty"`
	// Invariants are the checks every scenario gets (a violated one is also a failure).
	Invariants []InvariantReport `json:"invariants"`
}

// ReasonReport is a result's reason without its evidence.
type ReasonReport struct {
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
}

// ExpectedReport is what the scenario expected.
type ExpectedReport struct {
	Outcome    string   `json:"outcome"`
	Outcomes   []string `json:"outcomes"`
	Assertions []string `json:"assertions"`
}

// PushReport is one push and its result.
type PushReport struct {
	Label                string        `json:"label"`
	Tag                  string        `json:"tag"`
	Digest               string        `json:"digest"`
	Execution            string        `json:"execution"`
	ExecutionStatus      string        `json:"executionStatus"`
	Expected             string        `json:"expected"`
	Outcome              string        `json:"outcome"`
	Reason               *ReasonReport `json:"reason"`
	ServiceDeploymentARN string        `json:"serviceDeploymentArn,omitempty"`
	ECSStatus            string        `json:"ecsStatus,omitempty"`
	// Transitions counts the execution's state transitions; TaskFailures are its failed
	// Task attempts (retried or caught).
	Transitions  int           `json:"transitions"`
	TaskFailures []TaskFailure `json:"taskFailures,omitempty"`
	// States counts how many times the execution entered each state.
	States map[string]int `json:"states,omitempty"`
	// Timing is measured on this machine, from the emulator's and the result's clocks.
	Timing *PushTiming `json:"timing,omitempty"`
}

// PushTiming is how long the parts of one push took here (wall time, not emulated).
type PushTiming struct {
	// PushToUpdateServiceSeconds: from the ECR event to the UpdateService that started the
	// push's service deployment (its creation time in the emulator).
	PushToUpdateServiceSeconds float64 `json:"pushToUpdateServiceSeconds"`
	// ECSEndToResultSeconds: from the service deployment's terminal status to the result's
	// publication (its finishedAt).
	ECSEndToResultSeconds float64 `json:"ecsEndToResultSeconds"`
}

// StageReport is one lifecycle stage.
type StageReport struct {
	Deployment      string  `json:"deployment"`
	Stage           string  `json:"stage"`
	Rollback        bool    `json:"rollback"`
	Emulated        string  `json:"emulated"`
	Wall            string  `json:"wall"`
	EmulatedSeconds float64 `json:"emulatedSeconds"`
	WallSeconds     float64 `json:"wallSeconds"`
}

// PhaseReport is the production traffic of one phase.
type PhaseReport struct {
	Deployment string `json:"deployment,omitempty"`
	Stage      string `json:"stage"`
	Rollback   bool   `json:"rollback"`
	Served     int64  `json:"served"`
	Failed     int64  `json:"failed"`
	Target5xx  int64  `json:"target5xx"`
	ELB5xx     int64  `json:"elb5xx"`
}

func reasonOf(r *result.Result) *ReasonReport {
	if r == nil || r.Reason == nil {
		return nil
	}
	return &ReasonReport{Kind: string(r.Reason.Kind), Summary: r.Reason.Summary}
}

// scenarioReport assembles a scenario's report from what it observed.
func scenarioReport(o *Observed, failures []string, wall time.Duration) ScenarioReport {
	sc := o.Scenario
	sr := ScenarioReport{Name: sc.Name, Description: sc.Description, Proves: sc.Proves, Failures: failures, Pass: len(failures) == 0,
		Requests: o.Requests, Chat: o.Chat, WallSeconds: wall.Seconds(), Group: sc.Group, Injected: o.Faults.Injected,
		Invariants: []InvariantReport{}}
	if sr.Failures == nil {
		sr.Failures = []string{}
	}
	if sr.Chat == nil {
		sr.Chat = []ChatMessage{}
	}
	sr.Expected.Outcome = string(sc.Pushes[sc.Primary].Expect)
	for _, e := range sc.Expected() {
		sr.Expected.Outcomes = append(sr.Expected.Outcomes, string(e))
	}
	sr.Expected.Assertions = []string{}
	for _, a := range sc.Assertions {
		sr.Expected.Assertions = append(sr.Expected.Assertions, a.Name)
	}
	if r := o.primary(); r != nil {
		sr.Outcome, sr.Reason = string(r.Outcome), reasonOf(r)
	}
	for i, p := range o.Pushes {
		pr := PushReport{Label: p.Label, Tag: p.Tag, Digest: p.Digest, Execution: p.Execution, ExecutionStatus: p.ExecutionStatus, Expected: string(sc.Pushes[i].Expect)}
		pr.Transitions, pr.TaskFailures = p.Transitions, p.TaskFailures
		if len(p.Entered) > 0 {
			pr.States = map[string]int{}
			for st, at := range p.Entered {
				pr.States[st] = len(at)
			}
		}
		if p.Result != nil {
			pr.Outcome, pr.Reason, pr.ServiceDeploymentARN, pr.ECSStatus = string(p.Result.Outcome), reasonOf(p.Result), p.Result.ServiceDeploymentARN, p.Result.ECSStatus
			if d := o.deployment(p.Result); d != nil && !p.PushedAt.IsZero() && !d.FinishedAt.IsZero() {
				pr.Timing = &PushTiming{PushToUpdateServiceSeconds: d.CreatedAt.Sub(p.PushedAt).Seconds(),
					ECSEndToResultSeconds: p.Result.FinishedAt.Sub(d.FinishedAt).Seconds()}
			}
		}
		sr.Pushes = append(sr.Pushes, pr)
	}
	sr.Stages = []StageReport{}
	for _, d := range o.Deployments {
		for _, s := range d.Stages {
			sr.Stages = append(sr.Stages, StageReport{Deployment: shortARN(d.ARN), Stage: s.Stage, Rollback: s.Rollback,
				Emulated: emulatedString(s.Emulated), Wall: wallString(s.Wall), EmulatedSeconds: s.Emulated.Seconds(), WallSeconds: s.Wall.Seconds()})
		}
	}
	sr.Traffic = []PhaseReport{}
	for _, p := range o.Production {
		sr.Traffic = append(sr.Traffic, PhaseReport{Deployment: shortARN(p.ServiceDeploymentARN), Stage: p.Stage, Rollback: p.Rollback,
			Served: p.Served, Failed: p.Failed, Target5xx: p.Target5xx, ELB5xx: p.ELB5xx})
	}
	return sr
}

// writeScenario prints a scenario's result, stages, traffic, chat and checks.
func writeScenario(w io.Writer, sr ScenarioReport) {
	if w == nil {
		return
	}
	verdict := "PASS"
	if !sr.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n  %s  %s: %s (expected %s)\n", verdict, sr.Name, orDash(sr.Outcome), sr.Expected.Outcome)
	if sr.Reason != nil {
		fmt.Fprintf(w, "        reason %s: %s\n", sr.Reason.Kind, sr.Reason.Summary)
	}
	if len(sr.Pushes) > 1 {
		for _, p := range sr.Pushes {
			fmt.Fprintf(w, "        push %-10s %-11s (expected %s)\n", p.Label, orDash(p.Outcome), p.Expected)
		}
	}
	if sr.Pass {
		fmt.Fprintf(w, "        proves: %s\n", sr.Proves)
	}
	if len(sr.Stages) > 0 {
		fmt.Fprintf(w, "\n  stages (at AWS speed, and the wall time here)\n")
		last := ""
		for _, s := range sr.Stages {
			if s.Deployment != last && len(sr.Pushes) > 1 {
				fmt.Fprintf(w, "    deployment %s\n", s.Deployment)
				last = s.Deployment
			}
			mark := " "
			if s.Rollback {
				mark = "↩"
			}
			fmt.Fprintf(w, "    %s %-30s %9s (%s)\n", mark, s.Stage, s.Emulated, s.Wall)
		}
	}
	if len(sr.Traffic) > 0 {
		fmt.Fprintf(w, "\n  production traffic per phase (%.0f requests/s)\n", sr.Requests.Rate)
		fmt.Fprintf(w, "    %-32s %8s %8s\n", "phase", "served", "failed")
		var served, failed int64
		for _, p := range sr.Traffic {
			name := p.Stage
			if name == "" {
				name = "(deployment starting)"
			}
			if p.Rollback {
				name = "↩ " + name
			}
			fmt.Fprintf(w, "    %-32s %8d %8d\n", name, p.Served, p.Failed)
			served += p.Served
			failed += p.Failed
		}
		fmt.Fprintf(w, "    %-32s %8d %8d\n", "total", served, failed)
	}
	if len(sr.Chat) > 0 {
		fmt.Fprintf(w, "\n  chat (what the local webhook receiver got)\n")
		for _, m := range sr.Chat {
			fmt.Fprintf(w, "    [%s, %s]\n", m.Channel, m.Type)
			for _, line := range strings.Split(m.Text, "\n") {
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
	}
	if len(sr.Injected) > 0 {
		fmt.Fprintf(w, "\n  faults injected\n")
		for _, f := range sr.Injected {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
	if len(sr.Invariants) > 0 {
		var held []string
		for _, v := range sr.Invariants {
			if v.Held {
				held = append(held, v.Name)
			}
		}
		fmt.Fprintf(w, "\n  invariants: %d of %d held", len(held), len(sr.Invariants))
		if len(held) == len(sr.Invariants) {
			fmt.Fprintf(w, " (%s)", strings.Join(held, "; "))
		}
		fmt.Fprintln(w)
	}
	if len(sr.Failures) > 0 {
		fmt.Fprintf(w, "\n  not as expected\n")
		for _, f := range sr.Failures {
			fmt.Fprintf(w, "    ✗ %s\n", f)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// WriteText prints the closing summary: every scenario's verdict, the time taken, where
// the logs are and how to run the others.
func (r Report) WriteText(w io.Writer) {
	passed := 0
	for _, s := range r.Scenarios {
		if s.Pass {
			passed++
		}
	}
	fmt.Fprintf(w, "\nrehearsal: %d/%d scenario(s) as expected in %s (set-up %s; time compressed ×%g: 1 emulated minute = %s)\n",
		passed, len(r.Scenarios), round(secs(r.WallSeconds)), round(secs(r.SetupSeconds)), 1/r.TimeScale, round(time.Duration(float64(time.Minute)*r.TimeScale)))
	for _, s := range r.Scenarios {
		v := "pass"
		if !s.Pass {
			v = "FAIL"
		}
		fmt.Fprintf(w, "  %-22s %-12s %-4s %6s\n", s.Name, orDash(s.Outcome), v, round(secs(s.WallSeconds)))
	}
	if len(r.LeftOut) > 0 {
		fmt.Fprintf(w, "  left out (they need the sample app's fault switches, not --app-cmd): %s\n", strings.Join(r.LeftOut, ", "))
	}
	if r.Logs != "" {
		fmt.Fprintf(w, "logs: %s\n", r.Logs)
	}
	if len(r.Scenarios) < len(Scenarios) {
		fmt.Fprintf(w, "more: greenlight rehearse --list; --scenario NAME (%s) or --scenario all\n", strings.Join(ScenarioNames(), ", "))
	}
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// productionPhases keeps the production listener's phases.
func productionPhases(ts []ecsemu.PhaseTraffic) []ecsemu.PhaseTraffic {
	var out []ecsemu.PhaseTraffic
	for _, p := range ts {
		if p.Listener == ecsemu.ListenerProduction {
			out = append(out, p)
		}
	}
	return out
}
