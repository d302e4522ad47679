package rehearsal

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Fault is what a fault scenario injects. Every fault is real: the emulator answers
// ThrottlingException, the proxy in front of moto holds and drops calls, the bootstrap
// process is killed, the chat receiver answers errors, a person's deployment and a
// person's StopExecution go through the same APIs. The scenario's assertions check both
// that the fault happened and what greenlight did about it.
type Fault struct {
	// ECSThrottle makes the ECS emulator throttle the Lambdas' ECS calls.
	ECSThrottle *ecsemu.Throttle
	// SlowAWS holds (and drops) a share of the Lambdas' calls to the local AWS.
	SlowAWS *localaws.SlowFaults
	// Kill kills a function's bootstrap once, while it waits for an ECS call's answer.
	Kill *KillFault
	// Webhooks makes the chat receiver answer every post to a channel with an HTTP
	// status (channel → status).
	Webhooks map[string]int
	// Channels adds chat channels to the rehearsed route (name → type); they deliver to the
	// local receiver like the default one.
	Channels map[string]string
	// Settle waits, once every push has its result, until what the fault leaves behind is
	// there to check (up to a minute).
	Settle func(ctx context.Context, r *scenarioRun) (bool, error)
}

// KillFault kills Function's bootstrap (SIGKILL) right after the ECS emulator answered its
// OnECSCall call, before the answer reaches it: ECS acted, the function never learns.
type KillFault struct {
	// Function is the template's logical ID (StartFunction).
	Function string
	// OnECSCall is the ECS operation (UpdateService).
	OnECSCall string
}

// FaultObservation is what the fault injection did in one scenario.
type FaultObservation struct {
	// Injected says, one line each, what was injected and how much.
	Injected []string
	Throttle *ecsemu.ThrottleStats
	Slow     *localaws.ProxyStats
	// ECSCalls counts the Lambdas' ECS calls per operation (through the ECS front).
	ECSCalls map[string]int
	Kills    []KillRecord
	// WebhookTries counts the posts per chat channel, failed ones included.
	WebhookTries map[string]int
	// DeadLetters are the messages the notifier's dead-letter queue holds at the end.
	DeadLetters []string
	Hold        *HoldRecord
	Operator    *OperatorRecord
	Stopped     *StopRecord
}

// KillRecord is one bootstrap killed.
type KillRecord struct {
	Function string
	PIDs     []int
	At       time.Time
	Err      string
}

// HoldRecord is a Lambda's ECS call the rehearsal held until something happened.
type HoldRecord struct {
	Op       string
	Released time.Time
	// Status is the operator's service deployment's status when ECS answered the call.
	Status string
}

// OperatorRecord is a deployment started by hand, not by greenlight.
type OperatorRecord struct {
	ARN, Image string
	At         time.Time
}

// StopRecord is an execution stopped by hand.
type StopRecord struct {
	Execution string
	At        time.Time
}

func (o *FaultObservation) note(format string, a ...any) {
	o.Injected = append(o.Injected, fmt.Sprintf(format, a...))
}

// Tags and settings of the fault scenarios.
const (
	operatorTag  = "hotfix-1"
	hookChannel  = "rehearsal-hook"
	throttleSeed = 9
)

var faultScenarios = []Scenario{
	{
		Name:        "ecs-throttling",
		Group:       GroupFaults,
		Description: "ECS answers ThrottlingException to 30% of the Lambdas' calls, and to start's first 5 UpdateService calls: the deployment still completes",
		Proves:      "throttled ECS calls are retried (the SDK's backoff, then the state machine's Retry once the SDK gives up) and the deployment completes, once",
		Fault: &Fault{ECSThrottle: &ecsemu.Throttle{Share: 0.3, Seed: throttleSeed,
			// awsenv.MaxAttempts (5) SDK attempts all throttled: start fails with
			// greenlight.Transient and the state machine retries it.
			First: map[string]int{"UpdateService": 5}}},
		Pushes: []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			throttledCalls(8), retriedTask("Start", "greenlight.Transient", "ThrottlingException"),
			reachedStages("BAKE_TIME", "CLEAN_UP"), deployments(1), noFailedProduction(), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "lambda-killed",
		Group:       GroupFaults,
		Description: "start's bootstrap is killed (SIGKILL) right after ECS took its UpdateService: the state machine retries start, which finds the deployment it started",
		Proves:      "a Lambda that dies mid-invocation is retried (Runtime.ExitError), the retry recognises its own UpdateService, and one deployment gives one result",
		Fault:       &Fault{Kill: &KillFault{Function: "StartFunction", OnECSCall: "UpdateService"}},
		Pushes:      []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			killed("StartFunction"), retriedTask("Start", "Runtime.ExitError", "signal: killed"), ecsCalls("UpdateService", 1),
			reachedStages("BAKE_TIME", "CLEAN_UP"), deployments(1), noFailedProduction(), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "moto-slow",
		Group:       GroupFaults,
		Description: "the local AWS is slow: 25% of the Lambdas' calls wait 1-2 s, and every 4th of those is dropped (connection reset): the deployment completes within its deadlines",
		Proves:      "slow AWS answers only slow greenlight down: dropped calls are retried by the SDK, no Lambda times out, no step fails, and the route's deadline holds",
		Fault:       &Fault{SlowAWS: &localaws.SlowFaults{Share: 0.25, Min: time.Second, Max: 2 * time.Second, DropEvery: 4, Seed: 7}},
		Pushes:      []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			slowed(5, 1), noTaskFailures(), withinDeadline(),
			reachedStages("BAKE_TIME", "CLEAN_UP"), deployments(1), noFailedProduction(), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "chat-down",
		Group:       GroupFaults,
		Description: "every chat webhook fails (Slack answers 503, a second channel 404): the deployment is unaffected, the result is in the ledger, the failures in the dead-letter queue",
		Proves:      "chat never holds a deployment back: a permanent failure is dead-lettered by the notifier at once, a temporary one is retried by Lambda and then dead-lettered by its on-failure destination, and nothing is posted twice",
		Fault: &Fault{
			Channels: map[string]string{hookChannel: "discord"},
			Webhooks: map[string]int{chatChannel: 503, hookChannel: 404},
			Settle:   deadLettersIn(2),
		},
		Pushes: []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			deadLettered(), webhookTries(map[string]int{chatChannel: 15, hookChannel: 1}), noChat(),
			reachedStages("BAKE_TIME", "CLEAN_UP"), deployments(1), noFailedProduction(),
		},
	},
	{
		Name:        "push-during-rollback",
		Group:       GroupFaults,
		Description: "an operator deploys a crashing image by hand and ECS rolls it back; a push arriving meanwhile waits for the rollback, then deploys",
		Proves:      "greenlight never deploys over a deployment it did not start: the push waits while ECS rolls the operator's deployment back, then deploys on top of blue",
		Operator:    map[string]string{"CRASH_AFTER": "50ms"},
		Pushes:      []Push{{Tag: "v1.2.0", Before: operatorDeploys, Expect: result.Succeeded}},
		Assertions: []Assertion{
			operatorRolledBack(), metTheRollback(), deployments(2), endsOn("v1.2.0"), noFailedProduction(), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "stopped-by-hand",
		Group:       GroupFaults,
		Description: "an execution is stopped by hand (StopExecution) mid-deployment; the next push takes its lock over, reports the stop, and deploys",
		Proves:      "a stopped execution neither blocks the service (its lock is taken over at once) nor goes unreported (a FAILED result, reason MANUAL, for its push)",
		Pushes: []Push{
			{Tag: "v1.1.0", Expect: result.Failed},
			{Tag: "v1.2.0", Before: stopByHand(0), Expect: result.Succeeded},
		},
		Assertions: []Assertion{
			reasonKind(result.KindManual), stopReported(), tookOverAtOnce(1), deployments(2), endsOn("v1.2.0"),
			chatFor(result.Failed), chatFor(result.Succeeded),
		},
	},
}

// --- steps of the fault scenarios

// operatorDeploys is push-during-rollback's first step: an operator pushes an image by hand
// (no ECR event: it is not greenlight's) and deploys it with UpdateService, as from the
// console; its tasks crash, so ECS's circuit breaker rolls it back. So that the push meets
// the rollback on any machine, whatever the order things happen in, the rehearsal pauses
// the rollback as it begins (ROLLBACK_IN_PROGRESS) and holds the push's first look at the
// service's deployments (start's ListServiceDeployments) until the rollback is paused; once
// ECS has answered that look, the rollback goes on.
func operatorDeploys(ctx context.Context, r *scenarioRun) error {
	l := r.l
	digest, err := l.putImage(ctx, operatorTag, r.sc.Name)
	if err != nil {
		return err
	}
	image := registry + "/" + repository + "@" + digest
	r.run.set(image, l.command(operatorTag, r.sc.Operator))
	td, err := r.em.ServiceTaskDefinition(clusterName, serviceName)
	if err != nil {
		return err
	}
	cur, err := l.c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
	if err != nil {
		return fmt.Errorf("operator: describe %s: %w", td, err)
	}
	in, err := deploy.CloneTaskDefinition(cur.TaskDefinition, l.o.container, image, nil)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	reg, err := l.c.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return fmt.Errorf("operator: register the task definition: %w", err)
	}
	gate := r.tap.pauseAt(ecsemu.StatusRollbackInProgress)
	byHand := ecs.NewFromConfig(l.cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(r.em.URL()) })
	up, err := byHand.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(clusterName), Service: aws.String(serviceName),
		TaskDefinition: reg.TaskDefinition.TaskDefinitionArn})
	if err != nil {
		gate.open()
		return fmt.Errorf("operator: UpdateService: %w", err)
	}
	arn := aws.ToString(up.Service.CurrentServiceDeployment)
	gate.only(arn)
	r.obs.Faults.Operator = &OperatorRecord{ARN: arn, Image: image, At: time.Now()}
	r.obs.Faults.note("an operator deployed %s:%s [%s] by hand (UpdateService, no ECR event): service deployment %s", repository, operatorTag, faultList(r.sc.Operator), shortARN(arn))
	r.l.tl.event("operator: UpdateService to %s:%s [%s], not greenlight's → service deployment %s", repository, operatorTag, faultList(r.sc.Operator), shortARN(arn))
	hold := &HoldRecord{Op: "ListServiceDeployments"}
	r.obs.Faults.Hold = hold
	l.ecs.hook(&callHook{op: hold.Op,
		before: func() {
			select {
			case <-gate.reached:
			case <-time.After(time.Minute):
			case <-ctx.Done():
			}
		},
		after: func() bool {
			if rep, err := r.em.Report(arn); err == nil {
				hold.Status = rep.Status
			}
			hold.Released = time.Now()
			gate.open()
			r.l.tl.event("fault: start's ListServiceDeployments answered while the operator's deployment was %s; the rollback goes on", orDash(hold.Status))
			return true
		}})
	return nil
}

// stopByHand stops push i's execution once it follows its service deployment (it entered
// Check), as a person does with StopExecution, and waits until it is ABORTED.
func stopByHand(i int) func(ctx context.Context, r *scenarioRun) error {
	return func(ctx context.Context, r *scenarioRun) error {
		f := r.fs[i]
		deadline := time.Now().Add(60 * time.Second)
		for !f.entered["Check"] {
			if _, err := r.l.follow(ctx, f); err != nil {
				return err
			}
			if f.status != "" {
				return fmt.Errorf("%s ended %s before it could be stopped by hand", f.label, f.status)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not reach Check within 60s", f.label)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if _, err := r.l.c.sfn.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(f.arn),
			Error: aws.String("rehearsal.StoppedByHand"), Cause: aws.String("an operator stopped the execution in the Step Functions console")}); err != nil {
			return fmt.Errorf("StopExecution %s: %w", f.arn, err)
		}
		r.obs.Faults.Stopped = &StopRecord{Execution: f.arn, At: time.Now()}
		r.obs.Faults.note("%s's execution %s stopped by hand (StopExecution) while it followed its service deployment", f.label, shortARN(f.arn))
		r.l.tl.event("fault: %s execution stopped by hand (StopExecution)", f.label)
		for f.status == "" {
			if _, err := r.l.follow(ctx, f); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s was not ABORTED within 60s of StopExecution", f.label)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
}

// deadLettersIn waits until the notifier's dead-letter queue has received n messages.
func deadLettersIn(n int) func(ctx context.Context, r *scenarioRun) (bool, error) {
	return func(ctx context.Context, r *scenarioRun) (bool, error) {
		out, err := r.l.c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.st.dlq), MaxNumberOfMessages: 10})
		if err != nil {
			return false, err
		}
		for _, m := range out.Messages {
			r.obs.Faults.DeadLetters = append(r.obs.Faults.DeadLetters, aws.ToString(m.Body))
			_, _ = r.l.c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.st.dlq), ReceiptHandle: m.ReceiptHandle})
		}
		return len(r.obs.Faults.DeadLetters) >= n, nil
	}
}

// --- assertions of the fault scenarios

func throttledCalls(min int) Assertion {
	return Assertion{Name: fmt.Sprintf("ECS throttled at least %d calls", min), Check: func(o *Observed) error {
		t := o.Faults.Throttle
		if t == nil || t.Total() < min {
			return fmt.Errorf("the emulator throttled %d calls (%v); want at least %d", totalThrottled(t), t, min)
		}
		if t.Throttled["UpdateService"] < 5 {
			return fmt.Errorf("UpdateService was throttled %d times; want its first 5 calls", t.Throttled["UpdateService"])
		}
		return nil
	}}
}

func totalThrottled(t *ecsemu.ThrottleStats) int {
	if t == nil {
		return 0
	}
	return t.Total()
}

// retriedTask checks that a Task state of the primary push failed with errName (its cause
// mentioning cause), and that the execution went on to succeed: the state machine retried it.
func retriedTask(state, errName, cause string) Assertion {
	return Assertion{Name: fmt.Sprintf("%s failed with %s and was retried", state, errName), Check: func(o *Observed) error {
		p := o.Pushes[o.Scenario.Primary]
		for _, f := range p.TaskFailures {
			if f.State == state && f.Error == errName && strings.Contains(f.Cause, cause) {
				if p.ExecutionStatus != "SUCCEEDED" {
					return fmt.Errorf("%s failed with %s, and the execution ended %s", state, errName, orNone(p.ExecutionStatus))
				}
				if n := p.Attempts[state]; n < 2 {
					return fmt.Errorf("%s failed with %s but was attempted %d time(s); want a retry", state, errName, n)
				}
				return nil
			}
		}
		return fmt.Errorf("no %s failure of %s mentioning %q in the execution history (failures: %s)", errName, state, cause, failureList(p.TaskFailures))
	}}
}

func failureList(fs []TaskFailure) string {
	if len(fs) == 0 {
		return "none"
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.State+" "+f.Error)
	}
	return strings.Join(out, ", ")
}

func killed(function string) Assertion {
	return Assertion{Name: "the bootstrap was killed mid-invocation", Check: func(o *Observed) error {
		for _, k := range o.Faults.Kills {
			if k.Function == function && len(k.PIDs) > 0 && k.Err == "" {
				return nil
			}
		}
		return fmt.Errorf("%s's bootstrap was not killed: %+v", function, o.Faults.Kills)
	}}
}

func ecsCalls(op string, n int) Assertion {
	return Assertion{Name: fmt.Sprintf("%d %s call(s)", n, op), Check: func(o *Observed) error {
		if got := o.Faults.ECSCalls[op]; got != n {
			return fmt.Errorf("the Lambdas called %s %d times; want %d (a retried start must not update the service again)", op, got, n)
		}
		return nil
	}}
}

func slowed(minHeld, minDropped int) Assertion {
	return Assertion{Name: "calls to the local AWS held and dropped", Check: func(o *Observed) error {
		s := o.Faults.Slow
		if s == nil || s.Held < minHeld || s.Dropped < minDropped {
			return fmt.Errorf("the proxy held/dropped %+v; want at least %d held and %d dropped", s, minHeld, minDropped)
		}
		return nil
	}}
}

func noTaskFailures() Assertion {
	return Assertion{Name: "no step failed", Check: func(o *Observed) error {
		for _, p := range o.Pushes {
			if len(p.TaskFailures) > 0 {
				return fmt.Errorf("%s: steps failed: %s (%s)", p.Label, failureList(p.TaskFailures), p.TaskFailures[0].Cause)
			}
		}
		return nil
	}}
}

func withinDeadline() Assertion {
	return Assertion{Name: "within the route's deadline", Check: func(o *Observed) error {
		r := o.primary()
		if r == nil {
			return fmt.Errorf("no result")
		}
		if r.Reason != nil && r.Reason.Kind == result.KindDeadline {
			return fmt.Errorf("the deployment ran out of its deadline: %s", r.Reason.Summary)
		}
		return nil
	}}
}

func deadLettered() Assertion {
	return Assertion{Name: "failed deliveries dead-lettered", Check: func(o *Observed) error {
		r := o.primary()
		if r == nil {
			return fmt.Errorf("no result")
		}
		var notifier, lambda int
		for _, b := range o.Faults.DeadLetters {
			var dl notify.DeadLetter
			var rec struct {
				RequestContext struct {
					Condition              string
					ApproximateInvokeCount int
				}
				ResponsePayload struct{ ErrorMessage string }
			}
			switch {
			case json.Unmarshal([]byte(b), &rec) == nil && rec.RequestContext.Condition != "":
				if rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
					!strings.Contains(rec.ResponsePayload.ErrorMessage, chatChannel) || !strings.Contains(rec.ResponsePayload.ErrorMessage, r.ID) {
					return fmt.Errorf("Lambda's on-failure record %s: want RetriesExhausted after 3 invocations, naming %s and result %s", b, chatChannel, r.ID)
				}
				lambda++
			case json.Unmarshal([]byte(b), &dl) == nil && dl.ResultID != "":
				if dl.ResultID != r.ID || dl.Channel != hookChannel || dl.Status != 404 || len(dl.Result) == 0 {
					return fmt.Errorf("the notifier's dead letter %s: want result %s, channel %s, status 404 and the result", b, r.ID, hookChannel)
				}
				notifier++
			default:
				return fmt.Errorf("an unexpected dead letter: %s", b)
			}
		}
		if notifier != 1 || lambda != 1 {
			return fmt.Errorf("%d notifier dead letters and %d Lambda on-failure records; want one of each (%d messages)", notifier, lambda, len(o.Faults.DeadLetters))
		}
		return nil
	}}
}

func webhookTries(want map[string]int) Assertion {
	return Assertion{Name: "webhook posts", Check: func(o *Observed) error {
		for ch, n := range want {
			if got := o.Faults.WebhookTries[ch]; got != n {
				return fmt.Errorf("channel %s got %d posts; want %d (%v)", ch, got, n, o.Faults.WebhookTries)
			}
		}
		return nil
	}}
}

func noChat() Assertion {
	return Assertion{Name: "no chat message got through", Check: func(o *Observed) error {
		if len(o.Chat) > 0 {
			return fmt.Errorf("%d chat messages were accepted by a receiver that fails every post", len(o.Chat))
		}
		return nil
	}}
}

func operatorRolledBack() Assertion {
	return Assertion{Name: "ECS rolled the operator's deployment back", Check: func(o *Observed) error {
		op := o.Faults.Operator
		if op == nil {
			return fmt.Errorf("no operator deployment")
		}
		for _, d := range o.Deployments {
			if d.ARN == op.ARN {
				if d.Status != ecsemu.StatusRollbackSuccessful {
					return fmt.Errorf("the operator's deployment ended %s (%s); want ROLLBACK_SUCCESSFUL", d.Status, d.StatusReason)
				}
				return nil
			}
		}
		return fmt.Errorf("the emulator has no record of the operator's deployment %s", op.ARN)
	}}
}

// metTheRollback: the push's start ran while ECS rolled the operator's deployment back,
// waited, and started its own deployment only after the rollback had finished.
func metTheRollback() Assertion {
	return Assertion{Name: "the push waited for the rollback", Check: func(o *Observed) error {
		h, op := o.Faults.Hold, o.Faults.Operator
		p := o.Pushes[o.Scenario.Primary]
		if h == nil || op == nil || p.Result == nil {
			return fmt.Errorf("nothing to check (hold %v, operator %v, result %v)", h, op, p.Result)
		}
		if h.Status != ecsemu.StatusRollbackRequested && h.Status != ecsemu.StatusRollbackInProgress {
			return fmt.Errorf("start looked while the operator's deployment was %q; want ROLLBACK_REQUESTED or ROLLBACK_IN_PROGRESS", h.Status)
		}
		waits := p.Entered["Wait for active deployment"]
		if len(waits) == 0 || waits[0].Before(h.Released) {
			return fmt.Errorf("the execution entered Wait for active deployment at %v; want it after start saw the rollback (%s)", waits, h.Released.Format(time.RFC3339Nano))
		}
		var opDone, mine time.Time
		for _, d := range o.Deployments {
			switch d.ARN {
			case op.ARN:
				opDone = d.FinishedAt
			case p.Result.ServiceDeploymentARN:
				mine = d.CreatedAt
			}
		}
		if opDone.IsZero() || mine.IsZero() || mine.Before(opDone) {
			return fmt.Errorf("greenlight's deployment started at %s, the operator's ended at %s; want it to start after", mine.Format(time.RFC3339Nano), opDone.Format(time.RFC3339Nano))
		}
		return nil
	}}
}

func stopReported() Assertion {
	return Assertion{Name: "the stop is reported", Check: func(o *Observed) error {
		st := o.Faults.Stopped
		p := o.Pushes[o.Scenario.Primary]
		r := p.Result
		if st == nil || r == nil {
			return fmt.Errorf("nothing to check (stop %v, result %v)", st, r)
		}
		if p.ExecutionStatus != string(sfntypes.ExecutionStatusAborted) {
			return fmt.Errorf("%s's execution ended %s; want ABORTED", p.Label, orNone(p.ExecutionStatus))
		}
		if r.ExecutionARN != st.Execution || r.Reason == nil || !strings.Contains(r.Reason.Summary, "stopped by hand") ||
			!strings.Contains(r.Reason.Summary, result.ShortDigest(p.Digest)) {
			return fmt.Errorf("the result %+v does not say that execution %s, deploying %s, was stopped by hand", r.Reason, shortARN(st.Execution), result.ShortDigest(p.Digest))
		}
		if r.FinishedAt.Before(st.At.Add(-time.Second)) {
			return fmt.Errorf("the result was published at %s, before the stop (%s)", r.FinishedAt, st.At)
		}
		return nil
	}}
}

// tookOverAtOnce: push i took the stopped execution's lock without waiting for its lease.
func tookOverAtOnce(i int) Assertion {
	return Assertion{Name: "the lock was taken over at once", Check: func(o *Observed) error {
		p := o.Pushes[i]
		if n := len(p.Entered["Wait for lock"]); n > 0 {
			return fmt.Errorf("%s waited for the lock %d time(s); want the stopped execution's lock taken over at once", p.Label, n)
		}
		if len(p.Entered["Start"]) == 0 {
			return fmt.Errorf("%s never started", p.Label)
		}
		return nil
	}}
}

// faultNamesOf lists the fault scenarios' names (docs and tests).
func faultNamesOf() []string {
	var out []string
	for _, s := range faultScenarios {
		out = append(out, s.Name)
	}
	return slices.Clip(out)
}
