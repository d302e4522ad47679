package explain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Evidence is what finalize found beyond the job itself.
type Evidence struct {
	// SmokeChecks are the lifecycle hook's checks for the service deployment (ledger).
	SmokeChecks []result.CheckEvidence
	// StoppedTasks are green tasks that stopped during the deployment.
	StoppedTasks []result.StoppedTask
}

// Outcome decides the published outcome of a finished job, in this order: a skip from
// resolve (SKIPPED), a newer push (SUPERSEDED), preflight (BLOCKED), greenlight's own error
// (FAILED), nothing to do at start (SKIPPED), the route deadline (FAILED), then the ECS
// status (deploy.StatusOutcome). A job that never reached ECS is FAILED.
func Outcome(j workflow.Job) result.Outcome {
	switch {
	case j.Skip != nil:
		return result.Skipped
	case j.Lock != nil && j.Lock.Superseded:
		return result.Superseded
	case j.Preflight != nil && j.Preflight.Blocked:
		return result.Blocked
	case j.Error != nil:
		return result.Failed
	}
	d := j.Deployment
	switch {
	case d == nil:
		return result.Failed
	case d.Skipped != nil:
		return result.Skipped
	case d.DeadlineExceeded:
		return result.Failed
	}
	return deploy.StatusOutcome(d.Status)
}

// Reason explains the outcome; it is nil for SUCCEEDED.
func Reason(j workflow.Job, ev Evidence) *result.Reason {
	switch Outcome(j) {
	case result.Succeeded:
		return nil
	case result.Skipped:
		if j.Skip != nil {
			return j.Skip
		}
		return j.Deployment.Skipped
	case result.Superseded:
		return superseded(j)
	case result.Blocked:
		return blocked(j)
	}
	if j.Error != nil {
		return caught(j)
	}
	if j.Deployment == nil {
		return &result.Reason{Kind: result.KindError, Summary: "greenlight ended without starting a deployment"}
	}
	if j.Deployment.DeadlineExceeded {
		return deadline(j)
	}
	return fromECS(j, ev)
}

func superseded(j workflow.Job) *result.Reason {
	by := j.Lock.SupersededBy
	return &result.Reason{
		Kind:    result.KindSuperseded,
		Summary: fmt.Sprintf("a newer push (%s) for %s arrived while this one waited; only the newest deploys", by.String(), j.Target.Key()),
		Details: []string{"this push: " + j.Image.String(), "newer push: " + by.String()},
	}
}

func blocked(j workflow.Job) *result.Reason {
	p := j.Preflight
	var names, details []string
	for _, a := range p.Firing {
		names = append(names, a.Name)
		details = append(details, a.Summary())
	}
	return &result.Reason{
		Kind: result.KindAlarmAlreadyFiring,
		Summary: fmt.Sprintf("not deployed: alarm %s was already in ALARM; a deployment started now would run unguarded, because ECS ignores all its deployment alarms for a deployment that starts while one fires",
			strings.Join(names, ", ")),
		Details:  append(details, "deploy anyway once you accept that: set the route's alarms.whenAlreadyFiring to warn, or roll back with `greenlight rollback`, which an alarm never blocks"),
		Evidence: &result.Evidence{Alarms: p.Firing},
	}
}

// lambdaCause is the JSON a failed Lambda leaves in a Catch's Cause.
type lambdaCause struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func caught(j workflow.Job) *result.Reason {
	e := j.Error
	msg := e.Cause
	var lc lambdaCause
	if json.Unmarshal([]byte(e.Cause), &lc) == nil && lc.ErrorMessage != "" {
		msg = lc.ErrorMessage
	}
	msg = oneLine(msg, 300)
	step := j.FailedStep
	if step == "" {
		step = "a step"
	}
	kind := result.KindError
	summary := fmt.Sprintf("greenlight failed at %s: %s", step, msg)
	if e.Error == workflow.ErrConfig {
		kind = result.KindConfig
		summary = fmt.Sprintf("cannot deploy as configured (%s): %s", step, msg)
	}
	r := &result.Reason{
		Kind:     kind,
		Summary:  summary,
		Evidence: &result.Evidence{Error: &result.ErrorEvidence{Step: j.FailedStep, Name: e.Error, Message: msg}},
	}
	if d := j.Deployment; d != nil && d.ServiceDeploymentARN != "" && !d.Done {
		r.Details = append(r.Details, fmt.Sprintf("the ECS service deployment %s was still %s at stage %s when greenlight stopped following it",
			d.ServiceDeploymentARN, orUnknown(d.Status), orUnknown(d.Stage)))
	}
	return r
}

func deadline(j workflow.Job) *result.Reason {
	d := j.Deployment
	mins := j.Route.Deadline().Minutes()
	elapsed := ""
	if !d.StartedAt.IsZero() && len(d.Stages) > 0 {
		last := d.Stages[len(d.Stages)-1].EnteredAt
		elapsed = fmt.Sprintf(" after %s at stage %s", last.Sub(d.StartedAt).Round(time.Second), d.Stage)
	}
	return &result.Reason{
		Kind:    result.KindDeadline,
		Summary: fmt.Sprintf("ECS had not finished within the route's %g-minute deadline (beyond the service's bake and step waits)%s; greenlight asked ECS to roll back", mins, elapsed),
		Details: []string{"ECS status when the deadline passed: " + orUnknown(d.Status)},
		Evidence: &result.Evidence{
			Hooks: d.Hooks, CircuitBreaker: d.CircuitBreaker, ECSRollbackReason: d.RollbackReason,
		},
	}
}

// fromECS classifies a rollback or failure reported by ECS from the strongest evidence:
// alarms, then failed smoke checks, then hook results, then the circuit breaker, then
// stopped green tasks, then ECS's own words.
func fromECS(j workflow.Job, ev Evidence) *result.Reason {
	d := j.Deployment
	evd := &result.Evidence{
		SmokeChecks: ev.SmokeChecks, StoppedTasks: ev.StoppedTasks, CircuitBreaker: d.CircuitBreaker,
		Hooks: d.Hooks, ECSRollbackReason: d.RollbackReason,
	}
	rolled := "rolled back"
	if d.Status != "ROLLBACK_SUCCESSFUL" {
		rolled = strings.ToLower(strings.ReplaceAll(orUnknown(d.Status), "_", " "))
	}
	details := []string{}
	if d.StatusReason != "" {
		details = append(details, "ECS: "+d.StatusReason)
	}
	if d.RollbackReason != "" && d.RollbackReason != d.StatusReason {
		details = append(details, "ECS rollback reason: "+d.RollbackReason)
	}
	mk := func(kind result.ReasonKind, summary string, extra ...string) *result.Reason {
		return &result.Reason{Kind: kind, Summary: summary, Details: append(extra, details...), Evidence: evd}
	}

	// Alarms: greenlight's watch evidence, else the names ECS reports as triggered.
	var fired []result.AlarmEvidence
	if j.Watch != nil {
		fired = j.Watch.Fired
	}
	if len(fired) > 0 {
		evd.Alarms = fired
		extra := []string{}
		for _, a := range fired[1:] {
			extra = append(extra, a.Summary())
		}
		if j.Watch.RollbackRequested {
			extra = append(extra, "greenlight asked ECS to roll back (StopServiceDeployment ROLLBACK): ECS was not going to act on this alarm itself")
		}
		return mk(result.KindAlarm, fmt.Sprintf("%s: alarm %s", rolled, fired[0].Summary()), extra...)
	}
	if len(d.TriggeredAlarms) > 0 {
		at := deploy.AlarmStage(d.Status, d.Stage)
		stage := ""
		if at != "" {
			stage = " during " + at
		}
		for _, n := range d.TriggeredAlarms {
			evd.Alarms = append(evd.Alarms, result.AlarmEvidence{Name: n, State: "ALARM", Stage: at})
		}
		return mk(result.KindAlarm, fmt.Sprintf("%s: alarm %s went to ALARM%s", rolled, strings.Join(d.TriggeredAlarms, ", "), stage))
	}

	// Smoke tests: the first failing check, with how many failed.
	var failed []result.CheckEvidence
	for _, c := range ev.SmokeChecks {
		if !c.Passed {
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		f := failed[0]
		extra := []string{fmt.Sprintf("%d of %d smoke checks failed at %s", len(failed), len(ev.SmokeChecks), f.Stage)}
		for _, c := range failed[1:min(len(failed), 5)] {
			extra = append(extra, c.Summary())
		}
		return mk(result.KindSmokeTestFailed, fmt.Sprintf("%s: smoke test %q failed: %s", rolled, f.Check, f.Summary()), extra...)
	}

	// Hooks.
	for _, h := range d.Hooks {
		switch h.Status {
		case "TIMED_OUT":
			return mk(result.KindHookTimeout, fmt.Sprintf("%s: lifecycle hook %s timed out%s", rolled, hookName(h.TargetARN), atStage(h.Stage)))
		case "FAILED":
			return mk(result.KindHookFailed, fmt.Sprintf("%s: lifecycle hook %s returned FAILED%s", rolled, hookName(h.TargetARN), atStage(h.Stage)))
		}
	}

	// Circuit breaker.
	if cb := d.CircuitBreaker; cb != nil && (cb.Status == "TRIGGERED" || (cb.Threshold > 0 && cb.FailureCount >= cb.Threshold)) {
		return mk(result.KindCircuitBreaker, fmt.Sprintf("%s: the deployment circuit breaker tripped after %d failed tasks (threshold %d)", rolled, cb.FailureCount, cb.Threshold),
			stoppedDetails(ev.StoppedTasks)...)
	}

	// Green tasks that stopped.
	if len(ev.StoppedTasks) > 0 {
		return mk(result.KindTasksFailedToStart, fmt.Sprintf("%s: %d green task(s) stopped: %s", rolled, len(ev.StoppedTasks), stoppedSummary(ev.StoppedTasks[0])),
			stoppedDetails(ev.StoppedTasks[1:])...)
	}

	// ECS's own words.
	reason := d.StatusReason
	if reason == "" {
		reason = d.RollbackReason
	}
	low := strings.ToLower(reason)
	switch {
	case strings.Contains(low, "circuit breaker"):
		return mk(result.KindCircuitBreaker, fmt.Sprintf("%s: %s", rolled, reason))
	case strings.Contains(low, "alarm"):
		return mk(result.KindAlarm, fmt.Sprintf("%s: %s", rolled, reason))
	case strings.Contains(low, "hook"):
		return mk(result.KindHookFailed, fmt.Sprintf("%s: %s", rolled, reason))
	case d.Status == "STOPPED" || strings.Contains(low, "user") || strings.Contains(low, "manual") || strings.Contains(low, "stopped"):
		return mk(result.KindManual, fmt.Sprintf("%s: the deployment was stopped outside greenlight (%s)", rolled, orText(reason, "no reason given")))
	}
	return mk(result.KindUnknown, fmt.Sprintf("%s: ECS gave no recognisable reason (%s)", rolled, orText(reason, "status "+orUnknown(d.Status))))
}

func stoppedSummary(t result.StoppedTask) string {
	s := orText(t.StoppedReason, "no reason")
	for _, c := range t.Containers {
		if c.ExitCode != nil {
			s += fmt.Sprintf("; container %s exited %d", c.Name, *c.ExitCode)
			if c.Reason != "" {
				s += " (" + c.Reason + ")"
			}
			break
		}
	}
	return s
}

func stoppedDetails(ts []result.StoppedTask) []string {
	var out []string
	for _, t := range ts {
		out = append(out, taskID(t.TaskARN)+": "+stoppedSummary(t))
	}
	return out
}

func taskID(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func hookName(arn string) string {
	if i := strings.LastIndex(arn, ":function:"); i >= 0 {
		return arn[i+len(":function:"):]
	}
	if arn == "" {
		return "(unnamed)"
	}
	return arn
}

func atStage(s string) string {
	if s == "" {
		return ""
	}
	return " at " + s
}

func orUnknown(s string) string { return orText(s, "unknown") }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
