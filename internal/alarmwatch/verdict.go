package alarmwatch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// ErrNoRollbackTarget reports that a regression cannot be rolled back automatically: the
// ledger has no earlier SUCCEEDED deployment of the service with another image.
var ErrNoRollbackTarget = errors.New("no earlier good revision to roll back to")

// WhyBlock says why an alarm already in ALARM stops a deployment (reference §5.3); the
// BLOCKED result's details and the warn-mode warning carry it.
const WhyBlock = "ECS ignores a service's deployment alarms for a whole deployment that starts while one of them is in ALARM, so this deployment would not be rolled back by ECS if it made things worse"

// PreflightVerdict is what preflight decided.
type PreflightVerdict struct {
	// Blocked: do not deploy (the route says block, the default).
	Blocked bool
	// Warn: deploy, and say in the result that the alarm was already firing.
	Warn bool
}

// SourceRegressionRollback is the trigger source of the deployment greenlight starts to
// undo a regression (workflow.Request.Source).
const SourceRegressionRollback = workflow.SourceRegressionRollback

// DecidePreflight decides what to do when the named route alarms are already in ALARM.
// Anything but an explicit "warn" blocks: deploying unguarded is never the default. A
// rollback (after a regression, or `greenlight rollback`) is never blocked: the alarm that is
// firing is the reason for it, and blocking it would leave the bad revision serving.
func DecidePreflight(whenAlreadyFiring string, firing []string, regressionRollback bool) PreflightVerdict {
	if len(firing) == 0 {
		return PreflightVerdict{}
	}
	if whenAlreadyFiring == routes.WhenFiringWarn || regressionRollback {
		return PreflightVerdict{Warn: true}
	}
	return PreflightVerdict{Blocked: true}
}

// WarnText is the result warning for a deployment that went ahead while the alarm was
// already firing: the route says warn, or the deployment is a regression rollback.
func WarnText(ev result.AlarmEvidence, regressionRollback bool) string {
	since := ""
	if !ev.StateSince.IsZero() {
		since = " since " + ev.StateSince.UTC().Format("2006-01-02 15:04 UTC")
	}
	why := "route says whenAlreadyFiring: warn"
	if regressionRollback {
		why = "this deployment is a rollback, which an alarm never blocks"
	}
	return fmt.Sprintf("alarm %s was already in ALARM%s when this deployment started (%s): "+
		"ECS ignores its deployment alarms for this whole deployment and will not roll back on them; "+
		"greenlight's own watch stays armed and asks ECS to roll back if %s fires again or another route alarm fires",
		ev.Name, since, why, ev.Name)
}

// ECS service deployment statuses (reference §3).
const (
	StatusPending            = "PENDING"
	StatusInProgress         = "IN_PROGRESS"
	StatusSuccessful         = "SUCCESSFUL"
	StatusStopped            = "STOPPED"
	StatusStopRequested      = "STOP_REQUESTED"
	StatusRollbackRequested  = "ROLLBACK_REQUESTED"
	StatusRollbackInProgress = "ROLLBACK_IN_PROGRESS"
	StatusRollbackSuccessful = "ROLLBACK_SUCCESSFUL"
	StatusRollbackFailed     = "ROLLBACK_FAILED"
)

// Stoppable reports whether StopServiceDeployment(ROLLBACK) can still change the
// deployment: only PENDING and IN_PROGRESS ones can be rolled back; STOP_* and ROLLBACK_*
// are already on their way back, and the rest are terminal (reference §3).
func Stoppable(status string) bool {
	return status == StatusPending || status == StatusInProgress
}

// RollingBack reports whether ECS is already stopping or rolling back the deployment.
func RollingBack(status string) bool {
	return strings.HasPrefix(status, "ROLLBACK_") || strings.HasPrefix(status, "STOP")
}

// Observed is one alarm state as the watch read it.
type Observed struct {
	Name  string
	State string
	Since time.Time
}

// NewlyFiring lists the alarms in ALARM that went there after the baseline: the alarms
// preflight found already firing (route says warn) do not count while they stay in that
// same ALARM period, since the deployment did not cause them. One that recovers and fires
// again (a later Since) counts.
func NewlyFiring(alarms []Observed, baseline []result.AlarmEvidence) []string {
	base := make(map[string]time.Time, len(baseline))
	for _, b := range baseline {
		base[b.Name] = b.StateSince
	}
	var out []string
	for _, a := range alarms {
		if a.State != StateAlarm {
			continue
		}
		if since, ok := base[a.Name]; ok && !a.Since.After(since) {
			continue
		}
		out = append(out, a.Name)
	}
	return out
}

// DuringAction is what the in-deployment watch does after a poll.
type DuringAction int

// During actions.
const (
	// DuringNothing: no alarm involved, or everything already recorded and asked.
	DuringNothing DuringAction = iota
	// DuringRecord: gather evidence for the alarms in Record; do not call ECS.
	DuringRecord
	// DuringRollback: call StopServiceDeployment(ROLLBACK) (once), and gather evidence.
	DuringRollback
)

func (a DuringAction) String() string {
	switch a {
	case DuringRecord:
		return "record"
	case DuringRollback:
		return "rollback"
	}
	return "nothing"
}

// DuringInput is what one poll of the deployment saw.
type DuringInput struct {
	// Status and Stage are the service deployment's, as check copied them.
	Status string
	Stage  string
	// Done is set on the terminal poll.
	Done bool
	// HasDeployment is false until start has found the service-deployment ARN.
	HasDeployment bool
	// RouteFiring are the route alarms that went to ALARM after the baseline.
	RouteFiring []string
	// Triggered are the alarms ECS reports as triggered for this deployment.
	Triggered []string
	// Recorded are the alarms already in the watch's evidence.
	Recorded []string
	// RollbackRequested is set once greenlight has asked ECS to roll back.
	RollbackRequested bool
}

// DuringVerdict is the in-deployment decision.
type DuringVerdict struct {
	Action DuringAction
	// Involved are every alarm that fired: route alarms in ALARM and ECS-triggered ones.
	Involved []string
	// Record are the involved alarms without evidence yet.
	Record []string
	// Refresh is set on the terminal poll: re-read the evidence of every involved alarm
	// over the whole deployment window.
	Refresh bool
	// Why says in words why no rollback is requested (for logs).
	Why string
}

// DecideDuring decides, from the alarms and the deployment's status, whether greenlight
// asks ECS to roll back. The stage does not change the decision: any alarm that fires
// while the deployment can still be stopped stops it, before traffic reaches green (as a
// preflight would have blocked it) as much as during bake or clean-up, where ECS's own
// alarm rollback no longer applies; it only labels the evidence.
func DecideDuring(in DuringInput) DuringVerdict {
	involved := dedupe(append(append([]string(nil), in.RouteFiring...), in.Triggered...))
	recorded := make(map[string]bool, len(in.Recorded))
	for _, r := range in.Recorded {
		recorded[r] = true
	}
	v := DuringVerdict{Involved: involved}
	for _, n := range involved {
		if !recorded[n] {
			v.Record = append(v.Record, n)
		}
	}
	v.Refresh = in.Done && (len(involved) > 0 || len(in.Recorded) > 0)

	switch {
	case len(involved) == 0:
		v.Why = "no alarm in ALARM"
	case in.Done:
		v.Why = fmt.Sprintf("the deployment already ended (%s)", in.Status)
	case RollingBack(in.Status):
		v.Why = fmt.Sprintf("ECS is already rolling back (%s)", in.Status)
	case !Stoppable(in.Status):
		v.Why = fmt.Sprintf("the deployment can no longer be stopped (%s)", in.Status)
	case in.RollbackRequested:
		v.Why = "greenlight already asked ECS to roll back"
	case !in.HasDeployment:
		v.Why = "the service deployment is not known yet"
	default:
		v.Action = DuringRollback
		return v
	}
	if len(v.Record) > 0 || v.Refresh {
		v.Action = DuringRecord
	}
	return v
}

// PostAction is what the post-deploy watch does after a poll.
type PostAction int

// Post actions.
const (
	// PostWatch: nothing yet; poll again.
	PostWatch PostAction = iota
	// PostRegressed: an alarm fired in the window; publish REGRESSED, end the watch.
	PostRegressed
	// PostWindowOver: the window ended quietly.
	PostWindowOver
	// PostSuperseded: a newer deployment of the service took over; stop watching.
	PostSuperseded
)

func (a PostAction) String() string {
	switch a {
	case PostRegressed:
		return "regressed"
	case PostWindowOver:
		return "window-over"
	case PostSuperseded:
		return "superseded"
	}
	return "watch"
}

// PostInput is what one poll of the post-deploy watch saw.
type PostInput struct {
	Now, Until time.Time
	// Newer describes a newer deployment of the service ("" when none).
	Newer string
	// Firing are the route alarms that went to ALARM after the baseline.
	Firing []string
}

// DecidePost decides the post-deploy watch. A newer deployment ends the watch first: an
// alarm then may be its doing, not this one's.
func DecidePost(in PostInput) PostAction {
	switch {
	case in.Newer != "":
		return PostSuperseded
	case len(in.Firing) > 0:
		return PostRegressed
	case !in.Now.Before(in.Until):
		return PostWindowOver
	}
	return PostWatch
}

// RegressionRollback is what greenlight does about a regression.
type RegressionRollback struct {
	// Request: start a normal deployment of Target's image.
	Request bool
	Target  *result.Result
	// Detail is the line the REGRESSED result's details carry about it.
	Detail string
	// Err is ErrNoRollbackTarget when the route asks for a rollback and none exists.
	Err error
}

// DecideRegressionRollback decides whether a REGRESSED deployment of service
// ("cluster/service") is rolled back to lastGood (the ledger's newest good deployment with
// another image, nil when none).
func DecideRegressionRollback(rollbackOnRegression bool, lastGood *result.Result, service string) RegressionRollback {
	switch {
	case !rollbackOnRegression:
		return RegressionRollback{Detail: fmt.Sprintf("rollbackOnRegression is off for this route: the regressed revision keeps serving; "+
			"roll back with `greenlight rollback --service %s`, or set alarms.rollbackOnRegression: true to have greenlight do it", service)}
	case lastGood == nil:
		return RegressionRollback{Err: ErrNoRollbackTarget, Detail: ErrNoRollbackTarget.Error() +
			": the regressed revision keeps serving until a fixed image is pushed"}
	}
	when := ""
	if !lastGood.FinishedAt.IsZero() {
		when = ", deployed " + lastGood.FinishedAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return RegressionRollback{Request: true, Target: lastGood, Detail: fmt.Sprintf(
		"greenlight is redeploying the last good revision %s (result %s%s) as a normal blue/green deployment with its own result",
		lastGood.Image, lastGood.ID, when)}
}
