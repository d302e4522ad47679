package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// LeaseMargin is how long a lock lease lasts past the last renewal (scaled by the time
// scale, never below MinLease). check renews it on every poll and start on every look, so
// only a dead execution lets it run out.
const (
	LeaseMargin = 15 * time.Minute
	MinLease    = 30 * time.Second
)

// sfnAPI is the Step Functions call the lock makes: is the holder's execution still running?
type sfnAPI interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// lockLedger is the part of the ledger the lock uses.
type lockLedger interface {
	Enqueue(ctx context.Context, key string, w ledger.Waiter) (ledger.Waiter, error)
	Dequeue(ctx context.Context, key, jobID string) error
	TryLock(ctx context.Context, key string, h ledger.Holder) (bool, ledger.Holder, error)
	StealLock(ctx context.Context, key string, dead, h ledger.Holder) (bool, error)
	ReleaseLock(ctx context.Context, key, jobID string) error
	Lock(ctx context.Context, key string) (*ledger.Holder, error)
	History(ctx context.Context, key string, limit int) ([]result.Result, error)
}

// resultPublisher publishes a result outside finalize (*publish.Publisher).
type resultPublisher interface {
	Publish(ctx context.Context, r result.Result) error
}

// Locker serializes deployments per service: while one runs, later pushes wait in a
// newest-push-wins queue; when it ends only the newest waiter deploys.
type Locker struct {
	Ledger lockLedger
	SFN    sfnAPI
	// Publisher reports the lock holder whose execution ended without a result (stopped by
	// hand, timed out) when the next push takes its lock over; nil logs it instead.
	Publisher resultPublisher
	Scale     workflow.TimeScale
	Poll      PollBounds
	Now       func() time.Time
	Log       *slog.Logger
}

// Lease is the lease length for the time scale.
func Lease(scale workflow.TimeScale) time.Duration {
	d := scale.Apply(LeaseMargin)
	if d < MinLease {
		d = MinLease
	}
	return d
}

func (l *Locker) now() time.Time { return clock(l.Now) }

func (l *Locker) log() *slog.Logger { return logger(l.Log) }

// Handle runs Call.Action acquire or release.
func (l *Locker) Handle(ctx context.Context, c workflow.Call) (workflow.Job, error) {
	switch c.Action {
	case workflow.ActionAcquire:
		return l.Acquire(ctx, c.Job)
	case workflow.ActionRelease:
		return l.Release(ctx, c.Job)
	}
	return c.Job, workflow.Inputf("lock: action %q: want %q or %q", c.Action, workflow.ActionAcquire, workflow.ActionRelease)
}

// Acquire queues the job, then takes the lock if the job is the newest waiter. The job
// comes back with Lock.Acquired, Lock.Superseded, or Wait set for another try.
func (l *Locker) Acquire(ctx context.Context, j workflow.Job) (workflow.Job, error) {
	if j.Target.Cluster == "" || j.Target.Service == "" {
		return j, workflow.Inputf("lock: job %s has no target cluster/service", j.ID)
	}
	key := j.Target.Key()
	now := l.now().UTC()
	if j.Lock == nil {
		j.Lock = &workflow.LockState{WaitingFrom: now}
	}
	if j.Lock.Acquired {
		return j, nil // a retried acquire after the lock was taken
	}
	pushed := j.Trigger.PushedAt
	if pushed.IsZero() {
		pushed = j.StartedAt
	}
	me := ledger.Waiter{JobID: j.ID, Execution: j.ExecutionARN, Image: j.Image, PushedAt: pushed, QueuedAt: j.Lock.WaitingFrom}
	newest, err := l.Ledger.Enqueue(ctx, key, me)
	if err != nil {
		return j, workflow.Transient(err)
	}
	if newest.JobID != me.JobID {
		// A newer push is queued. If its execution is gone it can never take its turn:
		// clear it and queue again.
		if running, err := l.running(ctx, newest.Execution); err != nil {
			return j, err
		} else if !running {
			l.log().WarnContext(ctx, "queued push's execution ended; removing it from the queue",
				"cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID, "dead_job", newest.JobID)
			if err := l.Ledger.Dequeue(ctx, key, newest.JobID); err != nil {
				return j, workflow.Transient(err)
			}
			if newest, err = l.Ledger.Enqueue(ctx, key, me); err != nil {
				return j, workflow.Transient(err)
			}
		}
	}
	if newest.JobID != me.JobID {
		j.Lock.Superseded = true
		j.Lock.SupersededBy = newest.Image
		l.log().InfoContext(ctx, "superseded", "cluster", j.Target.Cluster, "service", j.Target.Service,
			"job_id", j.ID, "newer_job", newest.JobID, "newer_digest", newest.Image.Digest)
		return j, nil
	}
	lease := now.Add(Lease(l.Scale))
	h := ledger.Holder{JobID: j.ID, Execution: j.ExecutionARN, Image: j.Image, AcquiredAt: now, LeaseUntil: lease}
	// A holder whose execution has ended (stopped by hand, timed out) may never have
	// published its result: report it before its lock changes hands, whether its lease has
	// run out (TryLock takes it) or not (StealLock below).
	var prevEnded *ledger.Holder
	if prev, err := l.Ledger.Lock(ctx, key); err != nil {
		return j, workflow.Transient(err)
	} else if prev != nil && prev.JobID != j.ID && prev.Execution != "" && prev.Execution != j.ExecutionARN {
		ex, err := l.describe(ctx, prev.Execution)
		if err != nil {
			return j, err
		}
		if ex != nil && ex.Status != sfntypes.ExecutionStatusRunning {
			if err := l.reportEnded(ctx, j, *prev, ex); err != nil {
				return j, err
			}
			prevEnded = prev
		}
	}
	ok, cur, err := l.Ledger.TryLock(ctx, key, h)
	if err != nil {
		return j, workflow.Transient(err)
	}
	if !ok && cur.Execution != "" && cur.Execution != j.ExecutionARN {
		running := false
		if prevEnded == nil || cur.JobID != prevEnded.JobID {
			if running, err = l.running(ctx, cur.Execution); err != nil {
				return j, err
			}
		}
		if !running {
			l.log().WarnContext(ctx, "lock holder's execution has ended; taking the lock",
				"cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID, "dead_job", cur.JobID)
			if ok, err = l.Ledger.StealLock(ctx, key, cur, h); err != nil {
				return j, workflow.Transient(err)
			}
		}
	}
	if ok {
		if err := l.Ledger.Dequeue(ctx, key, j.ID); err != nil {
			return j, workflow.Transient(err)
		}
		j.Lock.Acquired, j.Lock.Holder, j.Lock.ExpiresAt = true, "", lease
		j.Wait = 0
		l.log().InfoContext(ctx, "lock acquired", "cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID)
		return j, nil
	}
	j.Lock.Holder = cur.Execution
	j.Wait = ClampSeconds(l.Scale.Seconds(LockWait), l.Poll)
	l.log().InfoContext(ctx, "waiting for lock", "cluster", j.Target.Cluster, "service", j.Target.Service,
		"job_id", j.ID, "holder_job", cur.JobID, "wait_seconds", j.Wait)
	return j, nil
}

// running reports whether a Step Functions execution is still RUNNING. An execution that
// does not exist (deleted, or another account's) counts as not running.
func (l *Locker) running(ctx context.Context, arn string) (bool, error) {
	out, err := l.describe(ctx, arn)
	if err != nil || out == nil {
		return false, err
	}
	return out.Status == sfntypes.ExecutionStatusRunning, nil
}

// describe returns the execution, or nil when it does not exist (deleted, another
// account's).
func (l *Locker) describe(ctx context.Context, arn string) (*sfn.DescribeExecutionOutput, error) {
	if arn == "" {
		return nil, nil
	}
	out, err := l.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		var nf *sfntypes.ExecutionDoesNotExist
		if errors.As(err, &nf) {
			return nil, nil
		}
		if workflow.IsTransient(err) {
			return nil, workflow.Transient(err)
		}
		return nil, fmt.Errorf("describe execution %s: %w", arn, err)
	}
	return out, nil
}

// reportEnded publishes the result of a lock holder whose execution ended without one,
// once: FAILED, reason MANUAL when a person stopped it (ABORTED), ERROR otherwise. It does
// nothing when the ledger already has the holder's result (the execution ended after it
// published, before it released the lock).
func (l *Locker) reportEnded(ctx context.Context, j workflow.Job, dead ledger.Holder, ex *sfn.DescribeExecutionOutput) error {
	key := j.Target.Key()
	log := l.log().With("cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID, "dead_job", dead.JobID,
		"dead_execution", dead.Execution, "status", string(ex.Status))
	hist, err := l.Ledger.History(ctx, key, 50)
	if err != nil {
		return workflow.Transient(err)
	}
	for _, r := range hist {
		if r.ID == dead.JobID {
			return nil
		}
	}
	r := StoppedResult(j, dead, ex, l.now().UTC())
	if l.Publisher == nil {
		log.WarnContext(ctx, "lock holder's execution ended without a result; not reported (no publisher)", "summary", r.Reason.Summary)
		return nil
	}
	if err := l.Publisher.Publish(ctx, r); err != nil {
		return err
	}
	log.WarnContext(ctx, "lock holder's execution ended without a result; reported", "outcome", string(r.Outcome), "reason_kind", string(r.Reason.Kind))
	return nil
}

// StoppedResult is the result of the job that held a service's lock when its execution
// ended without publishing one (ex describes that execution); by, the job taking the lock
// over, gives the service and its route. A stopped execution (ABORTED) was stopped by a
// person: reason MANUAL; any other end is greenlight's own failure: reason ERROR.
func StoppedResult(by workflow.Job, dead ledger.Holder, ex *sfn.DescribeExecutionOutput, now time.Time) result.Result {
	name := ExecutionName(dead.Execution)
	what := dead.Image.Repository
	if dead.Image.Tag != "" {
		what += ":" + dead.Image.Tag
	}
	what += "@" + dead.Image.ShortDigest()
	ended := now
	if ex.StopDate != nil {
		ended = ex.StopDate.UTC()
	}
	next := by.Image.Repository
	if by.Image.Tag != "" {
		next += ":" + by.Image.Tag
	}
	reason := &result.Reason{Kind: result.KindManual,
		Summary: fmt.Sprintf("stopped by hand: Step Functions execution %s was stopped (ABORTED) at %s while it deployed %s to %s; greenlight did not see its ECS deployment through, and the next push (%s) took the service's lock over",
			name, ended.Format(time.RFC3339), what, by.Target.Key(), next)}
	if ex.Status != sfntypes.ExecutionStatusAborted {
		reason = &result.Reason{Kind: result.KindError,
			Summary: fmt.Sprintf("Step Functions execution %s ended %s at %s without publishing a result while it deployed %s to %s; the next push (%s) took the service's lock over",
				name, ex.Status, ended.Format(time.RFC3339), what, by.Target.Key(), next)}
	}
	if e, c := aws.ToString(ex.Error), aws.ToString(ex.Cause); e != "" || c != "" {
		reason.Details = append(reason.Details, strings.TrimSpace("the execution's error: "+strings.TrimSpace(e+" "+c)))
	}
	started := dead.AcquiredAt
	if ex.StartDate != nil {
		started = ex.StartDate.UTC()
	}
	r := result.Result{
		Version: result.Version, ID: dead.JobID, Outcome: result.Failed,
		Route: by.Route.Name, Environment: by.Route.Environment, Account: by.Account, Region: by.Region,
		Cluster: by.Target.Cluster, Service: by.Target.Service, Container: by.Target.Container,
		Image: dead.Image, ExecutionARN: dead.Execution, StartedAt: started, FinishedAt: ended, Reason: reason,
	}
	r.DurationSeconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	if r.DurationSeconds < 0 {
		r.DurationSeconds = 0
	}
	return r
}

// Release frees the lock (if this job holds it) and its queue entry. It is idempotent.
func (l *Locker) Release(ctx context.Context, j workflow.Job) (workflow.Job, error) {
	if j.Target.Cluster == "" || j.Target.Service == "" {
		return j, nil // a no-route job never locked anything
	}
	key := j.Target.Key()
	if err := l.Ledger.ReleaseLock(ctx, key, j.ID); err != nil {
		return j, workflow.Transient(err)
	}
	if err := l.Ledger.Dequeue(ctx, key, j.ID); err != nil {
		return j, workflow.Transient(err)
	}
	if j.Lock == nil {
		j.Lock = &workflow.LockState{}
	}
	j.Lock.Released = true
	l.log().InfoContext(ctx, "lock released", "cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID)
	return j, nil
}
