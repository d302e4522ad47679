package rehearsal

import (
	"fmt"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Observed is everything a scenario saw, for its assertions and its report.
type Observed struct {
	Scenario Scenario
	Pushes   []PushObservation
	// Deployments are the service deployments the pushes started (the service's first
	// deployment, which brings blue up, is left out), oldest first.
	Deployments []ecsemu.DeploymentReport
	// Production is the production listener's traffic per phase.
	Production []ecsemu.PhaseTraffic
	// Requests is what the traffic generator itself saw.
	Requests RequestStats
	Chat     []ChatMessage
	// AlarmName is the demo environment's 5xx-rate alarm.
	AlarmName string
	// BlueVersion is the version production ran before the pushes.
	BlueVersion string

	// Published is every result the result topic carried during the scenario, in the order
	// read (redeliveries included).
	Published []result.Result
	// End is what the ledger and ECS hold once every execution has ended.
	End EndState
	// Faults is what the scenario's fault injection did.
	Faults FaultObservation
}

// EndState is the ledger's and ECS's state at the end of a scenario, for the invariants.
type EndState struct {
	// Records are the service's deployment records in the ledger, newest first.
	Records []result.Result
	// Locks describes every lock item left in the ledger ("" when none).
	Lock string
	// TaskDefinition is the task definition the ECS service runs, Image its container's
	// image and Digest that image's digest.
	TaskDefinition, Image, Digest string
	// RunningDigests are the image digests of the service's RUNNING tasks.
	RunningDigests []string
	// Error says why the end state could not be read (the invariants then fail).
	Error string
}

// PushObservation is one push and what came of it.
type PushObservation struct {
	Label     string
	Tag       string
	Digest    string
	Execution string
	// ExecutionStatus is the Step Functions execution's final status.
	ExecutionStatus string
	Result          *result.Result
	// PushedAt is when the push's ECR event was sent.
	PushedAt time.Time
	// Transitions counts the execution's state transitions (StateEntered events).
	Transitions int
	// Entered lists, per state, the times the execution entered it.
	Entered map[string][]time.Time
	// TaskFailures are the Task states that failed (and were retried or caught), in order.
	TaskFailures []TaskFailure
	// Attempts counts, per Task state, its attempts (retries included).
	Attempts map[string]int
}

// TaskFailure is one failed attempt of a Task state, from the execution history.
type TaskFailure struct {
	State string    `json:"state"`
	Error string    `json:"error"`
	Cause string    `json:"cause"`
	At    time.Time `json:"at"`
}

// primary returns the result of the scenario's primary push (nil when it never came).
func (o *Observed) primary() *result.Result {
	if p := o.Scenario.Primary; p < len(o.Pushes) {
		return o.Pushes[p].Result
	}
	return nil
}

// deployment returns the emulator's record of a result's service deployment.
func (o *Observed) deployment(r *result.Result) *ecsemu.DeploymentReport {
	if r == nil || r.ServiceDeploymentARN == "" {
		return nil
	}
	for i := range o.Deployments {
		if o.Deployments[i].ARN == r.ServiceDeploymentARN {
			return &o.Deployments[i]
		}
	}
	return nil
}

// checkOutcomes compares each push's outcome with the expected one.
func (o *Observed) checkOutcomes() []string {
	var fails []string
	for i, p := range o.Pushes {
		want := o.Scenario.Pushes[i].Expect
		switch {
		case p.Result == nil:
			fails = append(fails, fmt.Sprintf("push %s: no result was published (execution %s); want %s", p.Label, orNone(p.ExecutionStatus), want))
		case p.Result.Outcome != want:
			why := ""
			if p.Result.Reason != nil {
				why = ": " + p.Result.Reason.Summary
			}
			fails = append(fails, fmt.Sprintf("push %s: outcome %s%s; want %s", p.Label, p.Result.Outcome, why, want))
		}
	}
	return fails
}

func orNone(s string) string {
	if s == "" {
		return "not found"
	}
	return s
}

func reasonKind(k result.ReasonKind) Assertion {
	return Assertion{Name: "reason " + string(k), Check: func(o *Observed) error {
		r := o.primary()
		if r == nil || r.Reason == nil || r.Reason.Kind != k {
			return fmt.Errorf("the reason's kind is %s; want %s", kindOf(r), k)
		}
		return nil
	}}
}

func kindOf(r *result.Result) string {
	if r == nil || r.Reason == nil {
		return "none"
	}
	return string(r.Reason.Kind)
}

func noFailedProduction() Assertion {
	return Assertion{Name: "no failed production request", Check: func(o *Observed) error {
		var failed int64
		for _, p := range o.Production {
			failed += p.Failed
		}
		if failed > 0 || o.Requests.Failed > 0 || o.Requests.Errors > 0 {
			return fmt.Errorf("production failed %d requests (load balancer count), the traffic generator saw %d 5xx and %d transport errors", failed, o.Requests.Failed, o.Requests.Errors)
		}
		if o.Requests.Sent == 0 {
			return fmt.Errorf("the traffic generator sent no request")
		}
		return nil
	}}
}

// pushTags are the versions the pushes deploy (green).
func (o *Observed) pushTags() map[string]bool {
	m := map[string]bool{}
	for _, p := range o.Pushes {
		m[p.Tag] = true
	}
	return m
}

func greenServedProduction() Assertion {
	return Assertion{Name: "green served production", Check: func(o *Observed) error {
		for v, n := range o.Requests.ByVersion {
			if o.pushTags()[v] && n > 0 {
				return nil
			}
		}
		if len(o.Requests.ByVersion) > 0 {
			return fmt.Errorf("no production response came from a pushed version (responses by version: %v)", o.Requests.ByVersion)
		}
		// The app does not report its version (--app-cmd): count what the load balancer
		// sent while green held production.
		if d := o.deployment(o.primary()); d != nil {
			for _, p := range o.Production {
				if p.ServiceDeploymentARN == d.ARN && !p.Rollback && p.Served > 0 && p.Failed == 0 {
					switch p.Stage {
					case ecsemu.StagePostProductionTrafficShift, ecsemu.StageBakeTime:
						return nil
					}
				}
			}
		}
		return fmt.Errorf("the production listener served nothing while green held production")
	}}
}

func neverShifted() Assertion {
	return Assertion{Name: "blue kept production", Check: func(o *Observed) error {
		for v, n := range o.Requests.ByVersion {
			if o.pushTags()[v] && n > 0 {
				return fmt.Errorf("%d production responses came from the pushed version %s", n, v)
			}
		}
		if d := o.deployment(o.primary()); d != nil {
			for _, s := range d.Stages {
				if s.Stage == ecsemu.StageProductionTrafficShift && !s.Rollback {
					return fmt.Errorf("the deployment reached PRODUCTION_TRAFFIC_SHIFT")
				}
			}
		}
		if o.Requests.ByVersion[o.BlueVersion] == 0 {
			return fmt.Errorf("blue (%s) answered no production request", o.BlueVersion)
		}
		return nil
	}}
}

func reachedStages(stages ...string) Assertion {
	return Assertion{Name: "stages " + strings.Join(stages, ", "), Check: func(o *Observed) error {
		d := o.deployment(o.primary())
		if d == nil {
			return fmt.Errorf("no service deployment was recorded for the push")
		}
		seen := map[string]bool{}
		for _, s := range d.Stages {
			if !s.Rollback {
				seen[s.Stage] = true
			}
		}
		for _, s := range stages {
			if !seen[s] {
				return fmt.Errorf("the deployment never entered %s (stages: %s)", s, strings.Join(d.StageNames(), ", "))
			}
		}
		return nil
	}}
}

func deployments(n int) Assertion {
	return Assertion{Name: fmt.Sprintf("%d service deployment(s)", n), Check: func(o *Observed) error {
		if len(o.Deployments) != n {
			return fmt.Errorf("%d service deployments were started; want %d", len(o.Deployments), n)
		}
		return nil
	}}
}

func alarmEvidence() Assertion {
	return Assertion{Name: "alarm evidence", Check: func(o *Observed) error {
		r := o.primary()
		if r == nil || r.Reason == nil || r.Reason.Evidence == nil {
			return fmt.Errorf("the result has no evidence")
		}
		for _, a := range r.Reason.Evidence.Alarms {
			if a.Name == o.AlarmName && a.State == "ALARM" {
				return nil
			}
		}
		return fmt.Errorf("the evidence does not show %s in ALARM: %+v", o.AlarmName, r.Reason.Evidence.Alarms)
	}}
}

// rollbackStage is the stage the primary push's deployment was in when its rollback was
// requested.
func (o *Observed) rollbackStage() (string, error) {
	d := o.deployment(o.primary())
	if d == nil {
		return "", fmt.Errorf("no service deployment was recorded for the push")
	}
	for _, s := range d.Statuses {
		if s.Status == ecsemu.StatusRollbackRequested {
			return s.Stage, nil
		}
	}
	return "", fmt.Errorf("the deployment was never rolled back (statuses: %s)", strings.Join(d.StatusNames(), ", "))
}

func rolledBackAfterShift() Assertion {
	return Assertion{Name: "rolled back after production moved", Check: func(o *Observed) error {
		st, err := o.rollbackStage()
		switch {
		case err != nil:
			return err
		case st == ecsemu.StageProductionTrafficShift, st == ecsemu.StagePostProductionTrafficShift, st == ecsemu.StageBakeTime:
			return nil
		}
		return fmt.Errorf("the rollback was requested in %s; want after the production traffic shift", st)
	}}
}

func rolledBackIn(stage string) Assertion {
	return Assertion{Name: "rolled back in " + stage, Check: func(o *Observed) error {
		st, err := o.rollbackStage()
		if err == nil && st != stage {
			err = fmt.Errorf("the rollback was requested in %s; want %s", st, stage)
		}
		return err
	}}
}

// productionSteps: ECS moved production in n steps (PRODUCTION_TRAFFIC_SHIFT entered n times),
// and the result says green ended with all of it.
func productionSteps(n int) Assertion {
	return Assertion{Name: fmt.Sprintf("production moved in %d steps", n), Check: func(o *Observed) error {
		d := o.deployment(o.primary())
		if d == nil {
			return fmt.Errorf("no service deployment was recorded for the push")
		}
		steps := 0
		for _, s := range d.Stages {
			if s.Stage == ecsemu.StageProductionTrafficShift && !s.Rollback {
				steps++
			}
		}
		if steps != n {
			return fmt.Errorf("PRODUCTION_TRAFFIC_SHIFT entered %d times; want %d (stages: %s)", steps, n, strings.Join(d.StageNames(), ", "))
		}
		if r := o.primary(); r == nil || r.ProductionPercent == nil || *r.ProductionPercent != 100 {
			return fmt.Errorf("the result does not say green reached 100 %% of production")
		}
		return nil
	}}
}

// canaryShareFailed: while green held pct percent of production and failed every request,
// about pct percent of production failed (at most twice that: the draw is random), not all;
// and the result says green reached pct percent.
func canaryShareFailed(pct float64) Assertion {
	return Assertion{Name: fmt.Sprintf("only the canary's %g %% of production failed", pct), Check: func(o *Observed) error {
		var served, failed int64
		for _, p := range o.Production {
			if p.Stage == ecsemu.StageProductionTrafficShift && !p.Rollback {
				served, failed = served+p.Served, failed+p.Failed
			}
		}
		switch {
		case served == 0:
			return fmt.Errorf("production served nothing during PRODUCTION_TRAFFIC_SHIFT")
		case failed == 0:
			return fmt.Errorf("none of the %d production requests during the canary failed; green should have failed its share", served)
		case float64(failed) > float64(served)*2*pct/100:
			return fmt.Errorf("%d of %d production requests failed during the canary (%.0f %%); want about %g %%", failed, served, 100*float64(failed)/float64(served), pct)
		}
		var got *float64
		if r := o.primary(); r != nil {
			got = r.ProductionPercent
		}
		switch {
		case got == nil:
			return fmt.Errorf("the result has no productionPercent; want %g (the canary's share)", pct)
		case *got != pct:
			return fmt.Errorf("the result's productionPercent is %g; want %g (the canary's share)", *got, pct)
		}
		return nil
	}}
}

func stoppedTaskEvidence(reason string) Assertion {
	return Assertion{Name: "stopped-task evidence", Check: func(o *Observed) error {
		r := o.primary()
		if r == nil || r.Reason == nil || r.Reason.Evidence == nil {
			return fmt.Errorf("the result has no evidence")
		}
		for _, t := range r.Reason.Evidence.StoppedTasks {
			if strings.Contains(t.StoppedReason, reason) {
				return nil
			}
		}
		return fmt.Errorf("no stopped task in the evidence says %q: %+v", reason, r.Reason.Evidence.StoppedTasks)
	}}
}

func endsOn(tag string) Assertion {
	return Assertion{Name: "production ends on " + tag, Check: func(o *Observed) error {
		last := ""
		for _, p := range o.Pushes {
			if p.Result != nil && p.Result.Outcome == result.Succeeded && p.Result.FinishedAt.After(finishedOf(o, last)) {
				last = p.Tag
			}
		}
		if last != tag {
			return fmt.Errorf("the last successful deployment was %q; want %s", last, tag)
		}
		return nil
	}}
}

func finishedOf(o *Observed, tag string) (t time.Time) {
	for _, p := range o.Pushes {
		if p.Tag == tag && p.Result != nil {
			return p.Result.FinishedAt
		}
	}
	return t
}

func chatFor(outcome result.Outcome) Assertion {
	words := notify.StyleOf(outcome).Words
	return Assertion{Name: "chat: " + words, Check: func(o *Observed) error {
		for _, m := range o.Chat {
			if strings.Contains(m.Text, words) {
				return nil
			}
		}
		return fmt.Errorf("the webhook receiver got no %q message (%d messages)", words, len(o.Chat))
	}}
}
