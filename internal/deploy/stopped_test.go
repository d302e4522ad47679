package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// executions is a Step Functions fake that knows each execution's whole description.
type executions map[string]*sfn.DescribeExecutionOutput

func (e executions) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	if d, ok := e[aws.ToString(in.ExecutionArn)]; ok {
		return d, nil
	}
	return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("no such execution")}
}

func (e executions) set(arn string, status sfntypes.ExecutionStatus, start time.Time) *sfn.DescribeExecutionOutput {
	d := &sfn.DescribeExecutionOutput{ExecutionArn: aws.String(arn), Status: status, StartDate: aws.Time(start)}
	e[arn] = d
	return d
}

// publishedResults records what the lock published, and can fail.
type publishedResults struct {
	got  []result.Result
	fail error
}

func (p *publishedResults) Publish(_ context.Context, r result.Result) error {
	if p.fail != nil {
		return p.fail
	}
	p.got = append(p.got, r)
	return nil
}

// TestAcquireReportsAStoppedHolder: the push that takes over the lock of an execution
// stopped by hand publishes that execution's result (FAILED, reason MANUAL) once, before
// the lock changes hands; a holder that already published, or a retried acquire, publishes
// nothing more; a failing publish keeps the lock where it is.
func TestAcquireReportsAStoppedHolder(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	lg := newLedger(t).WithClock(func() time.Time { return now })
	ex := executions{}
	pub := &publishedResults{}
	l := &deploy.Locker{Ledger: lg, SFN: ex, Publisher: pub, Poll: deploy.PollBounds{Min: 1, Max: 60}, Now: func() time.Time { return now }}
	job := func(name, tag, digest string) workflow.Job {
		return workflow.Job{ID: name + "/prod/web", ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:greenlight-deploy:" + name,
			Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"}, Route: routes.Route{Name: "web-prod", Environment: "prod"},
			Image: result.Image{Repository: "web", Tag: tag, Digest: digest}, Trigger: result.Trigger{PushedAt: now}, Region: "us-east-1"}
	}
	a := job("a", "v1", "sha256:aaaaaaaaaaaa0000")
	ex.set(a.ExecutionARN, sfntypes.ExecutionStatusRunning, now.Add(-time.Minute))
	a, err := l.Acquire(ctx, a)
	if err != nil || !a.Lock.Acquired {
		t.Fatalf("a acquire = %+v, %v", a.Lock, err)
	}

	// a is stopped by hand. b's publish fails: b does not take the lock (the report comes first).
	d := ex.set(a.ExecutionARN, sfntypes.ExecutionStatusAborted, now.Add(-time.Minute))
	d.StopDate, d.Error, d.Cause = aws.Time(now.Add(-10*time.Second)), aws.String("ByHand"), aws.String("stopped in the console")
	now = now.Add(time.Second)
	b := job("b", "v2", "sha256:bbbbbbbbbbbb0000")
	ex.set(b.ExecutionARN, sfntypes.ExecutionStatusRunning, now)
	pub.fail = errors.New("sns down")
	if b2, err := l.Acquire(ctx, b); err == nil || b2.Lock.Acquired {
		t.Fatalf("b acquire with a failing publish = %+v, %v; want an error and no lock", b2.Lock, err)
	}
	if h, _ := lg.Lock(ctx, "prod/web"); h == nil || h.JobID != a.ID {
		t.Fatalf("lock after the failed report = %+v; want still a's", h)
	}
	pub.fail = nil
	if b, err = l.Acquire(ctx, b); err != nil || !b.Lock.Acquired {
		t.Fatalf("b acquire = %+v, %v; want the stopped holder's lock taken over at once", b.Lock, err)
	}
	if len(pub.got) != 1 {
		t.Fatalf("published %d results; want a's", len(pub.got))
	}
	r := pub.got[0]
	if r.ID != a.ID || r.Outcome != result.Failed || r.Reason == nil || r.Reason.Kind != result.KindManual || r.ExecutionARN != a.ExecutionARN ||
		r.Cluster != "prod" || r.Service != "web" || r.Route != "web-prod" || r.Image.Digest != a.Image.Digest ||
		!r.FinishedAt.Equal(now.Add(-11*time.Second)) || !r.StartedAt.Equal(now.Add(-61*time.Second)) {
		t.Errorf("stop report = %+v", r)
	}
	for _, want := range []string{"stopped by hand", "execution a ", "web:v1@aaaaaaaaaaaa", "prod/web", "next push (web:v2)"} {
		if !strings.Contains(r.Reason.Summary, want) {
			t.Errorf("summary %q lacks %q", r.Reason.Summary, want)
		}
	}
	if len(r.Reason.Details) != 1 || !strings.Contains(r.Reason.Details[0], "ByHand stopped in the console") {
		t.Errorf("details = %q; want the execution's error and cause", r.Reason.Details)
	}
	// A retried acquire (b already holds the lock) reports nothing again.
	b.Lock.Acquired = false
	if b, err = l.Acquire(ctx, b); err != nil || !b.Lock.Acquired || len(pub.got) != 1 {
		t.Fatalf("b's retried acquire = %+v, %v, %d reports; want acquired, no new report", b.Lock, err, len(pub.got))
	}

	// b's execution is stopped after it published its result (the ledger has it): c takes
	// the lock over without reporting b again.
	if err := lg.PutResult(ctx, result.Result{ID: b.ID, Outcome: result.Succeeded, Cluster: "prod", Service: "web", StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	ex.set(b.ExecutionARN, sfntypes.ExecutionStatusAborted, now)
	c := job("c", "v3", "sha256:cccccccccccc0000")
	ex.set(c.ExecutionARN, sfntypes.ExecutionStatusRunning, now)
	if c, err = l.Acquire(ctx, c); err != nil || !c.Lock.Acquired || len(pub.got) != 1 {
		t.Fatalf("c acquire = %+v, %v, %d reports; want acquired without a report (b had published)", c.Lock, err, len(pub.got))
	}

	// c's execution fails without a result and its lease runs out before the next push: the
	// expired lease is taken, and c is reported (reason ERROR: no person stopped it).
	ex.set(c.ExecutionARN, sfntypes.ExecutionStatusFailed, now)
	now = now.Add(time.Hour)
	e := job("e", "v4", "sha256:eeeeeeeeeeee0000")
	ex.set(e.ExecutionARN, sfntypes.ExecutionStatusRunning, now)
	if e, err = l.Acquire(ctx, e); err != nil || !e.Lock.Acquired {
		t.Fatalf("e acquire after c's lease ran out = %+v, %v", e.Lock, err)
	}
	if len(pub.got) != 2 || pub.got[1].ID != c.ID || pub.got[1].Reason.Kind != result.KindError || !strings.Contains(pub.got[1].Reason.Summary, "ended FAILED") {
		t.Fatalf("reports %+v; want c's, reason ERROR", pub.got)
	}

	// Without a publisher a stopped holder is still taken over (and only logged).
	l.Publisher = nil
	ex.set(e.ExecutionARN, sfntypes.ExecutionStatusAborted, now)
	f := job("f", "v5", "sha256:ffffffffffff0000")
	ex.set(f.ExecutionARN, sfntypes.ExecutionStatusRunning, now)
	if f, err = l.Acquire(ctx, f); err != nil || !f.Lock.Acquired {
		t.Fatalf("f acquire without a publisher = %+v, %v", f.Lock, err)
	}
}

// TestStoppedResult: the result of an execution that ended without one says who ended it.
func TestStoppedResult(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	by := workflow.Job{Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"}, Route: routes.Route{Name: "r"},
		Image: result.Image{Repository: "web", Tag: "v2"}}
	dead := ledger.Holder{JobID: "x/prod/web", Execution: "arn:aws:states:us-east-1:1:execution:sm:x", Image: result.Image{Repository: "web", Digest: "sha256:0123456789abcdef"}, AcquiredAt: now.Add(-time.Hour)}
	for _, tc := range []struct {
		status sfntypes.ExecutionStatus
		kind   result.ReasonKind
		want   string
	}{
		{sfntypes.ExecutionStatusAborted, result.KindManual, "stopped by hand: Step Functions execution x was stopped (ABORTED)"},
		{sfntypes.ExecutionStatusTimedOut, result.KindError, "execution x ended TIMED_OUT"},
		{sfntypes.ExecutionStatusFailed, result.KindError, "execution x ended FAILED"},
	} {
		r := deploy.StoppedResult(by, dead, &sfn.DescribeExecutionOutput{Status: tc.status}, now)
		if r.Outcome != result.Failed || r.Reason.Kind != tc.kind || !strings.Contains(r.Reason.Summary, tc.want) || !strings.Contains(r.Reason.Summary, "web@0123456789ab") ||
			!r.StartedAt.Equal(dead.AcquiredAt) || !r.FinishedAt.Equal(now) || r.DurationSeconds != 3600 || len(r.Reason.Details) != 0 {
			t.Errorf("StoppedResult(%s) = %+v; want FAILED, %s, %q", tc.status, r, tc.kind, tc.want)
		}
	}
}
