package alarmwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// ecsAPI is the part of the ECS client the watch uses.
type ecsAPI interface {
	StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error)
}

// ledgerAPI is the part of the ledger the watch uses (*ledger.Table).
type ledgerAPI interface {
	ClaimStop(ctx context.Context, serviceDeploymentARN, by string) (bool, error)
	UnclaimStop(ctx context.Context, serviceDeploymentARN string) error
	LastGood(ctx context.Context, key, excludeDigest string) (*result.Result, error)
	History(ctx context.Context, key string, limit int) ([]result.Result, error)
	Lock(ctx context.Context, key string) (*ledger.Holder, error)
}

var _ ledgerAPI = (*ledger.Table)(nil)

// PostPollInterval is how often the post-deploy watch reads the alarms (before TimeScale).
// One DescribeAlarms call per poll and service: ECS polls the same API for its deployment
// alarms, and throttling there can make ECS miss an alarm (reference §5.3).
const PostPollInterval = time.Minute

// Options configure a Watcher.
type Options struct {
	// TimeScale compresses the post-deploy window and its waits (tests, rehearsal).
	TimeScale workflow.TimeScale
	// Logger receives JSON logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Watcher runs the watch steps.
type Watcher struct {
	cw     cloudWatchAPI
	ecs    ecsAPI
	ledger ledgerAPI
	scale  workflow.TimeScale
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Watcher over the CloudWatch and ECS clients and the ledger.
func New(cw cloudWatchAPI, ecsClient ecsAPI, l ledgerAPI, o Options) *Watcher {
	w := &Watcher{cw: cw, ecs: ecsClient, ledger: l, scale: o.TimeScale, log: o.Logger, now: o.Now}
	if w.scale == 0 {
		w.scale = 1
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

// Handle is the watch Lambda: it runs call.Action on call.Job and returns the whole job.
// Errors come back through workflow.Boundary with a stable name.
func (w *Watcher) Handle(ctx context.Context, call workflow.Call) (workflow.Job, error) {
	var (
		job workflow.Job
		err error
	)
	switch call.Action {
	case workflow.ActionPreflight:
		job, err = w.Preflight(ctx, call.Job)
	case workflow.ActionDuring:
		job, err = w.During(ctx, call.Job)
	case workflow.ActionPost:
		job, err = w.Post(ctx, call.Job)
	default:
		err = workflow.Inputf("watch: action %q: want %q, %q or %q", call.Action,
			workflow.ActionPreflight, workflow.ActionDuring, workflow.ActionPost)
	}
	if err != nil {
		w.logger(call.Job).ErrorContext(ctx, "watch failed", "action", call.Action, "error", err.Error(), "error_name", workflow.Name(err))
		return call.Job, workflow.Boundary(err)
	}
	return job, nil
}

func (w *Watcher) logger(job workflow.Job) *slog.Logger {
	l := w.log.With("job_id", job.ID, "cluster", job.Target.Cluster, "service", job.Target.Service)
	if job.Deployment != nil && job.Deployment.ServiceDeploymentARN != "" {
		l = l.With("service_deployment_arn", job.Deployment.ServiceDeploymentARN)
	}
	return l
}

// cloudWatchErr marks CloudWatch failures that are worth retrying as transient.
func cloudWatchErr(err error) error {
	if workflow.IsTransient(err) {
		return workflow.Transient(err)
	}
	return err
}

// Preflight reads the route's alarms before UpdateService. An alarm that does not exist is
// a configuration error; one already in ALARM blocks the deployment, or, when the route
// says warn, lets it go ahead with a warning.
func (w *Watcher) Preflight(ctx context.Context, job workflow.Job) (workflow.Job, error) {
	log := w.logger(job)
	ps := job.Preflight
	if ps == nil {
		ps = &workflow.PreflightState{}
	}
	job.Preflight = ps
	cfg := job.Route.Alarms
	if cfg == nil || len(cfg.Names) == 0 {
		return job, nil
	}
	found, missing, err := describe(ctx, w.cw, cfg.Names)
	if err != nil {
		return job, cloudWatchErr(err)
	}
	if len(missing) > 0 {
		return job, workflow.Configf("route %q: CloudWatch alarm %q does not exist in the account and region greenlight runs in: "+
			"create it, or correct routes[].alarms.names (it takes the alarm's name, not its ARN)", job.Route.Name, missing[0])
	}
	now := w.now().UTC()
	var firing []string
	for _, n := range dedupe(cfg.Names) {
		if found[n].Firing() {
			firing = append(firing, n)
		}
	}
	remedy := workflow.IsRollback(job.Trigger.Source)
	v := DecidePreflight(cfg.WhenAlreadyFiring, firing, remedy)
	ps.Blocked = v.Blocked
	ps.Firing = nil
	for _, n := range firing {
		a := found[n]
		win := FiringWindow(a, now)
		pts, err := series(ctx, w.cw, a, win.Start, win.End)
		if err != nil {
			log.WarnContext(ctx, "alarm datapoints unavailable; the evidence uses the alarm's state reason", "alarm", n, "error", err.Error())
		}
		ev := Evidence(a, "", pts)
		ps.Firing = append(ps.Firing, ev)
		if v.Warn {
			ps.Warnings = appendUnique(ps.Warnings, WarnText(ev, remedy))
		}
	}
	switch {
	case v.Blocked:
		log.InfoContext(ctx, "preflight blocks the deployment: a route alarm is already in ALARM", "alarms", firing, "outcome", result.Blocked)
	case v.Warn:
		log.WarnContext(ctx, "deploying although a route alarm is in ALARM", "alarms", firing, "regression_rollback", remedy)
	default:
		log.InfoContext(ctx, "preflight: no route alarm in ALARM", "alarms", cfg.Names)
	}
	return job, nil
}

// During runs after every check poll: it records evidence for every alarm that fired and,
// while the deployment can still be stopped, asks ECS to roll back, once.
func (w *Watcher) During(ctx context.Context, job workflow.Job) (workflow.Job, error) {
	log := w.logger(job)
	dep := job.Deployment
	if dep == nil {
		return job, nil
	}
	if job.Watch == nil {
		job.Watch = &workflow.WatchState{}
	}
	ws := job.Watch
	log = log.With("stage", dep.Stage)

	var routeNames []string
	if job.Route.Alarms != nil {
		routeNames = job.Route.Alarms.Names
	}
	recorded := make([]string, 0, len(ws.Fired))
	for _, f := range ws.Fired {
		recorded = append(recorded, f.Name)
	}
	// Nothing to read: no route alarm, nothing triggered, nothing to complete.
	if len(routeNames) == 0 && len(dep.TriggeredAlarms) == 0 && !(dep.Done && len(recorded) > 0) {
		return job, nil
	}
	names := dedupe(append(append(append([]string(nil), routeNames...), dep.TriggeredAlarms...), recorded...))
	found, missing, err := describe(ctx, w.cw, names)
	if err != nil {
		return job, cloudWatchErr(err)
	}
	if len(missing) > 0 {
		log.WarnContext(ctx, "alarms not found in CloudWatch", "alarms", missing)
	}
	var routeObs []Observed
	for _, n := range dedupe(routeNames) {
		if a, ok := found[n]; ok {
			routeObs = append(routeObs, Observed{Name: n, State: a.State, Since: a.Since})
		}
	}
	var baseline []result.AlarmEvidence
	if job.Preflight != nil {
		baseline = job.Preflight.Firing
	}
	v := DecideDuring(DuringInput{
		Status:            dep.Status,
		Stage:             dep.Stage,
		Done:              dep.Done,
		HasDeployment:     dep.ServiceDeploymentARN != "",
		RouteFiring:       NewlyFiring(routeObs, baseline),
		Triggered:         dep.TriggeredAlarms,
		Recorded:          recorded,
		RollbackRequested: ws.RollbackRequested,
	})
	if v.Action == DuringNothing {
		return job, nil
	}
	attrs := []any{"action", v.Action.String(), "alarms", v.Involved, "status", dep.Status}
	if v.Why != "" {
		attrs = append(attrs, "why", v.Why)
	}
	log.InfoContext(ctx, "alarm watch", attrs...)

	if v.Action == DuringRollback {
		if err := w.requestRollback(ctx, log, &job, v.Involved); err != nil {
			return job, err
		}
	}

	now := w.now().UTC()
	triggered := make(map[string]bool, len(dep.TriggeredAlarms))
	for _, n := range dep.TriggeredAlarms {
		triggered[n] = true
	}
	for _, n := range v.Record {
		ev := w.evidence(ctx, log, found, n, deploy.AlarmStage(dep.Status, dep.Stage), DeploymentWindowFor(found[n], dep, job.StartedAt, now), triggered[n])
		ws.Fired = append(ws.Fired, ev)
	}
	if v.Refresh {
		for i := range ws.Fired {
			f := ws.Fired[i]
			a, ok := found[f.Name]
			if !ok {
				continue
			}
			ev := w.evidence(ctx, log, found, f.Name, f.Stage, DeploymentWindowFor(a, dep, job.StartedAt, now), triggered[f.Name])
			if a.State != StateAlarm {
				// Keep what the alarm said when it fired; refresh only the series.
				ev.State, ev.StateReason, ev.StateSince = f.State, f.StateReason, f.StateSince
				ev.Breaching = Breaching(ev.Datapoints, ev.Comparison, ev.Threshold, int(ev.EvaluationPeriods), f.StateSince)
				if len(ev.Datapoints) == 0 {
					ev.Datapoints, ev.Breaching = f.Datapoints, f.Breaching
				}
			}
			ws.Fired[i] = ev
		}
	}
	return job, nil
}

// DeploymentWindowFor is the evidence window of an alarm seen during dep: from a few
// periods before the deployment started (or greenlight began the job) to now.
func DeploymentWindowFor(a Alarm, dep *workflow.DeploymentState, jobStarted, now time.Time) Window {
	start := jobStarted
	if dep != nil && !dep.StartedAt.IsZero() {
		start = dep.StartedAt
	}
	return DeploymentWindow(a, start, now)
}

// evidence reads one alarm's datapoints and builds its evidence. It never fails: without
// datapoints the evidence falls back to what the alarm's state reason quotes.
func (w *Watcher) evidence(ctx context.Context, log *slog.Logger, found map[string]Alarm, name, stage string, win Window, byECS bool) result.AlarmEvidence {
	a, ok := found[name]
	if !ok {
		return result.AlarmEvidence{Name: name, State: StateAlarm, Stage: stage,
			StateReason: "ECS reported this deployment alarm as triggered; CloudWatch has no alarm by this name now"}
	}
	pts, err := series(ctx, w.cw, a, win.Start, win.End)
	if err != nil {
		log.WarnContext(ctx, "alarm datapoints unavailable; the evidence uses the alarm's state reason", "alarm", name, "error", err.Error())
	}
	ev := Evidence(a, stage, pts)
	if byECS && !a.Firing() {
		ev.StateReason = fmt.Sprintf("ECS reported this alarm as triggered; by the time greenlight read it, it was %s: %s", a.State, a.Reason)
	}
	return ev
}

// requestRollback asks ECS to roll back the service deployment, once across polls and
// retries: the ledger's STOP claim decides who calls. A failed call gives the claim back
// so that the next poll tries again.
func (w *Watcher) requestRollback(ctx context.Context, log *slog.Logger, job *workflow.Job, alarms []string) error {
	arn := job.Deployment.ServiceDeploymentARN
	claimed, err := w.ledger.ClaimStop(ctx, arn, job.ID+": alarm "+strings.Join(alarms, ", "))
	if err != nil {
		return err
	}
	if !claimed {
		log.InfoContext(ctx, "greenlight already asked ECS to roll back this service deployment")
		job.Watch.RollbackRequested = true
		return nil
	}
	_, err = w.ecs.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(arn),
		StopType:             ecstypes.StopServiceDeploymentStopTypeRollback,
	})
	switch {
	case err == nil:
		log.InfoContext(ctx, "asked ECS to roll back the service deployment", "alarms", alarms)
		job.Watch.RollbackRequested = true
		return nil
	case AlreadyEnded(err):
		log.InfoContext(ctx, "ECS says the service deployment can no longer be stopped; it already ended or is rolling back", "error", err.Error())
		job.Watch.RollbackRequested = true
		return nil
	}
	if uerr := w.ledger.UnclaimStop(ctx, arn); uerr != nil {
		return errors.Join(fmt.Errorf("ask ECS to roll back %s: %w", arn, err), uerr)
	}
	if workflow.IsTransient(err) {
		log.WarnContext(ctx, "StopServiceDeployment failed; the next poll tries again", "error", err.Error())
		return nil
	}
	return fmt.Errorf("ask ECS to roll back service deployment %s (StopServiceDeployment ROLLBACK; the watch function's role needs ecs:StopServiceDeployment on it): %w", arn, err)
}

// AlreadyEnded reports whether a StopServiceDeployment error means the deployment cannot
// be stopped any more because it already finished or is already being stopped:
// ConflictException, a *NotUpdatable* error code, or a client error saying so.
func AlreadyEnded(err error) bool {
	var ce *ecstypes.ConflictException
	if errors.As(err, &ce) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	if strings.Contains(ae.ErrorCode(), "NotUpdatable") || ae.ErrorCode() == "ConflictException" {
		return true
	}
	if ae.ErrorCode() == "ClientException" || ae.ErrorCode() == "InvalidParameterException" {
		msg := strings.ToLower(ae.ErrorMessage())
		for _, s := range []string{"terminal", "already", "cannot be stopped", "not in a stoppable", "completed"} {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return false
}

// Post runs after a SUCCEEDED result while the route's post-deploy window lasts: an alarm
// in ALARM then becomes a REGRESSED follow-up result (job.Result), optionally with a
// request to redeploy the last good revision.
func (w *Watcher) Post(ctx context.Context, job workflow.Job) (workflow.Job, error) {
	log := w.logger(job)
	if job.Watch == nil {
		job.Watch = &workflow.WatchState{}
	}
	ws := job.Watch
	if ws.PostDeployDone {
		return job, nil
	}
	cfg := job.Route.Alarms
	if cfg == nil || cfg.PostDeployWatchMinutes <= 0 || len(cfg.Names) == 0 {
		ws.PostDeployDone = true
		return job, nil
	}
	if job.Result == nil || job.Result.Outcome != result.Succeeded {
		log.InfoContext(ctx, "no post-deploy watch: the deployment did not succeed")
		ws.PostDeployDone = true
		return job, nil
	}
	now := w.now().UTC()
	if ws.PostDeployUntil.IsZero() {
		ws.PostDeployUntil = now.Add(w.scale.Apply(time.Duration(cfg.PostDeployWatchMinutes) * time.Minute))
		log.InfoContext(ctx, "post-deploy watch started", "until", ws.PostDeployUntil, "alarms", cfg.Names)
	}

	key := job.Target.Key()
	newer, err := w.newerDeployment(ctx, key, job.ID, now)
	if err != nil {
		return job, err
	}
	var firing []string
	var found map[string]Alarm
	if newer == "" {
		var missing []string
		found, missing, err = describe(ctx, w.cw, cfg.Names)
		if err != nil {
			return job, cloudWatchErr(err)
		}
		if len(missing) > 0 {
			log.WarnContext(ctx, "route alarms not found in CloudWatch", "alarms", missing)
		}
		var obs []Observed
		for _, n := range dedupe(cfg.Names) {
			if a, ok := found[n]; ok {
				obs = append(obs, Observed{Name: n, State: a.State, Since: a.Since})
			}
		}
		var baseline []result.AlarmEvidence
		if job.Preflight != nil {
			baseline = job.Preflight.Firing
		}
		firing = NewlyFiring(obs, baseline)
	}

	switch DecidePost(PostInput{Now: now, Until: ws.PostDeployUntil, Newer: newer, Firing: firing}) {
	case PostSuperseded:
		log.InfoContext(ctx, "post-deploy watch ends: a newer deployment of the service took over", "newer", newer)
		ws.PostDeployDone = true
	case PostWindowOver:
		log.InfoContext(ctx, "post-deploy watch ends: no route alarm fired in the window")
		ws.PostDeployDone = true
	case PostRegressed:
		if err := w.regressed(ctx, log, &job, found, firing, now); err != nil {
			return job, err
		}
	default:
		remaining := ws.PostDeployUntil.Sub(now)
		wait := w.scale.Seconds(PostPollInterval)
		if rs := int((remaining + time.Second - 1) / time.Second); rs < wait {
			wait = rs
		}
		job.Wait = max(wait, 1)
	}
	return job, nil
}

// newerDeployment describes a deployment of the service newer than jobID's, or "".
func (w *Watcher) newerDeployment(ctx context.Context, key, jobID string, now time.Time) (string, error) {
	h, err := w.ledger.Lock(ctx, key)
	if err != nil {
		return "", err
	}
	if h != nil && h.JobID != jobID && h.LeaseUntil.After(now) {
		return fmt.Sprintf("job %s holds the service's lock (image %s)", h.JobID, h.Image), nil
	}
	hist, err := w.ledger.History(ctx, key, 10)
	if err != nil {
		return "", err
	}
	return NewerInHistory(hist, jobID), nil
}

// NewerInHistory looks through a newest-first deployment history for a deployment newer
// than jobID's: a record above jobID's that started an ECS deployment (SUCCEEDED,
// ROLLED_BACK, or FAILED after a service deployment existed). Records of jobs that never
// deployed (SKIPPED, SUPERSEDED, BLOCKED) and follow-ups do not count.
func NewerInHistory(hist []result.Result, jobID string) string {
	for _, r := range hist {
		if r.ID == jobID {
			return ""
		}
		if r.FollowUpOf != "" {
			continue
		}
		deployed := r.Outcome == result.Succeeded || r.Outcome == result.RolledBack ||
			(r.Outcome == result.Failed && r.ServiceDeploymentARN != "")
		if deployed {
			return fmt.Sprintf("deployment %s (%s, %s)", r.ID, r.Image, r.Outcome)
		}
	}
	return ""
}

// regressed builds the REGRESSED follow-up result and, when the route asks for it, the
// rollback request.
func (w *Watcher) regressed(ctx context.Context, log *slog.Logger, job *workflow.Job, found map[string]Alarm, firing []string, now time.Time) error {
	ws := job.Watch
	succeeded := *job.Result
	var evs []result.AlarmEvidence
	for _, n := range firing {
		a := found[n]
		ev := w.evidence(ctx, log, found, n, "", FiringWindow(a, now), false)
		evs = append(evs, ev)
		ws.Fired = append(ws.Fired, ev)
	}
	after := now.Sub(succeeded.FinishedAt)
	lead := evs[0].Summary()
	if !succeeded.FinishedAt.IsZero() && after > 0 {
		lead += fmt.Sprintf(", %s after the deployment succeeded", humanDuration(after))
	}
	if len(evs) > 1 {
		lead += fmt.Sprintf(" (and %d more alarm%s)", len(evs)-1, plural(len(evs)-1))
	}
	details := make([]string, 0, len(evs)+3)
	for _, ev := range evs {
		details = append(details, ev.Summary())
		if ev.StateReason != "" {
			details = append(details, ev.Name+" says: "+ev.StateReason)
		}
	}
	details = append(details, "ECS no longer rolls back on alarms after a deployment's clean-up: greenlight's post-deploy watch caught this")

	var lastGood *result.Result
	if job.Route.Alarms.RollbackOnRegression {
		lg, err := w.ledger.LastGood(ctx, job.Target.Key(), job.Image.Digest)
		if err != nil {
			return err
		}
		lastGood = lg
	}
	rb := DecideRegressionRollback(job.Route.Alarms.RollbackOnRegression, lastGood, job.Target.Key())
	details = append(details, rb.Detail)

	r := succeeded
	r.ID = job.ID + "/regressed"
	r.FollowUpOf = job.ID
	r.Outcome = result.Regressed
	r.FinishedAt = now
	if !r.StartedAt.IsZero() {
		r.DurationSeconds = now.Sub(r.StartedAt).Seconds()
	}
	r.Reason = &result.Reason{
		Kind:     result.KindRegression,
		Summary:  lead,
		Details:  details,
		Evidence: &result.Evidence{Alarms: evs},
	}
	job.Result = &r
	ws.Regressed = true
	ws.PostDeployDone = true

	if rb.Request {
		ws.RollbackRequest = &workflow.ExecutionInput{Request: &workflow.Request{
			Source:      SourceRegressionRollback,
			RequestedBy: "greenlight",
			Route:       job.Route.Name,
			Cluster:     job.Target.Cluster,
			Service:     job.Target.Service,
			Image:       rb.Target.Image,
			Note:        fmt.Sprintf("rollback after REGRESSED %s: %s", r.ID, evs[0].Name),
			FollowUpOf:  r.ID,
		}}
	}
	log.WarnContext(ctx, "regression after a successful deployment", "alarms", firing, "outcome", result.Regressed,
		"rollback", rb.Request, "no_rollback_target", errors.Is(rb.Err, ErrNoRollbackTarget))
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		m := int(d.Minutes())
		return fmt.Sprintf("%d minute%s", m, plural(m))
	}
	return fmt.Sprintf("%.1f hours", d.Hours())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, l := range list {
			if l == it {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}
