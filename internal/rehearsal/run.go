package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Run rehearses the selected scenarios in one local AWS and returns what each showed.
// rep.Pass says whether every scenario met its expectation. err is a *UsageError for bad
// options, an *EnvironmentError when the machine lacks something (its message names the
// fix), the context's error when cancelled, or another error when the rehearsal itself
// broke; every process Run started is stopped before it returns.
func Run(ctx context.Context, opts Options) (rep Report, err error) {
	began := time.Now()
	o, err := opts.resolve()
	if err != nil {
		return Report{}, err
	}
	rep = Report{Version: ReportVersion, TimeScale: o.TimeScale, LeftOut: o.leftOut, Scenarios: []ScenarioReport{}}
	workDir := o.WorkDir
	if workDir == "" {
		runs := filepath.Join(o.CacheDir, "runs")
		pruneRuns(runs, 9)
		workDir = filepath.Join(runs, time.Now().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return rep, envErr(fmt.Errorf("create the log directory: %w", err))
	}
	rep.Logs = workDir
	logf, err := os.Create(filepath.Join(workDir, "rehearsal.log"))
	if err != nil {
		return rep, envErr(err)
	}
	defer logf.Close()
	log := slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "rehearsal")
	o.log = log
	tl := newTimeline(o.Live, o.TimeScale)
	tl.printf("greenlight rehearsal: %s, time ×%g (1 emulated minute = %s), in a local AWS on 127.0.0.1\n",
		strings.Join(names(o.scenarios), ", "), 1/o.TimeScale, round(time.Duration(float64(time.Minute)*o.TimeScale)))

	l := &local{o: o, log: log, tl: tl, workDir: workDir, ries: map[string]*rieProc{}}
	defer func() {
		if cerr := l.close(); cerr != nil {
			log.Error("stop local processes", "error", cerr)
			if err == nil {
				err = fmt.Errorf("stop the rehearsal's processes: %w", cerr)
			}
		}
		rep.WallSeconds = time.Since(began).Seconds()
		rep.Notes = tl.notes
	}()
	if err := l.setup(ctx); err != nil {
		return rep, err
	}
	l.taskBase, l.containerPort = taskAddresses()
	rep.SetupSeconds = time.Since(began).Seconds()

	for i, sc := range o.scenarios {
		sr, skipped, err := l.runScenario(ctx, sc, i+1, len(o.scenarios))
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if err != nil {
			var ue *UsageError
			if errors.As(err, &ue) {
				return rep, err
			}
			log.Error("scenario broke", "scenario", sc.Name, "error", err)
			sr = ScenarioReport{Name: sc.Name, Description: sc.Description, Proves: sc.Proves, Failures: []string{"the rehearsal broke: " + err.Error()},
				Expected: ExpectedReport{Outcome: string(sc.Pushes[sc.Primary].Expect)}, Stages: []StageReport{}, Traffic: []PhaseReport{}, Chat: []ChatMessage{},
				Group: sc.Group, Invariants: []InvariantReport{}}
			writeScenario(o.Live, sr)
		}
		if rep.NotCreated == nil {
			rep.NotCreated = skipped
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	rep.Pass = len(rep.Scenarios) > 0
	for _, s := range rep.Scenarios {
		rep.Pass = rep.Pass && s.Pass
	}
	if len(rep.Scenarios) == 1 {
		rep.ScenarioReport = &rep.Scenarios[0]
	}
	return rep, nil
}

func names(ss []Scenario) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// pruneRuns keeps the newest keep run directories.
func pruneRuns(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var ds []string
	for _, e := range entries {
		if e.IsDir() {
			ds = append(ds, e.Name())
		}
	}
	sort.Strings(ds)
	for len(ds) > keep {
		_ = os.RemoveAll(filepath.Join(dir, ds[0]))
		ds = ds[1:]
	}
}

// taskAddresses picks the loopback range for tasks (one address each, as awsvpc tasks have
// their own IP) and the container port: the template's 8080 unless something holds it on
// every address (a server bound to 0.0.0.0:8080), then a free port.
func taskAddresses() (string, int) {
	n := time.Now().UnixNano()
	base := fmt.Sprintf("127.%d.%d.2", 20+n%200, (n/200)%250)
	port := 8080
	ln, err := net.Listen("tcp", base[:len(base)-1]+"250:8080")
	if err != nil {
		if p, err := localaws.FreePort(); err == nil {
			port = p
		}
	} else {
		ln.Close()
	}
	return base, port
}

// runner maps each pushed image to the command that plays it.
type runner struct {
	mu     sync.Mutex
	images map[string]ecsemu.Command
}

func (r *runner) set(image string, c ecsemu.Command) {
	r.mu.Lock()
	r.images[image] = c
	r.mu.Unlock()
}

func (r *runner) Command(c ecsemu.Container) (ecsemu.Command, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cmd, ok := r.images[c.Image]; ok {
		return cmd, nil
	}
	return ecsemu.Command{}, fmt.Errorf("%s: not found (the rehearsal pushed no such image)", c.Image)
}

// command is how an image runs: the sample app with the image's version and faults, or the
// user's program.
func (l *local) command(tag string, faults map[string]string) ecsemu.Command {
	env := []string{"VERSION=" + tag, "REVISION=rehearsal"}
	keys := make([]string, 0, len(faults))
	for k := range faults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+faults[k])
	}
	if l.o.AppCmd != "" {
		return ecsemu.Command{Path: "/bin/sh", Args: []string{"-c", l.o.AppCmd}, Env: env, Dir: l.o.RepoDir}
	}
	return ecsemu.Command{Path: l.appBin, Env: env}
}

// scenarioRun is one scenario in progress: what it created and what it saw, for the
// scenario's own steps (Push.Before, Fault.Settle) and the checks at its end.
type scenarioRun struct {
	l   *local
	sc  Scenario
	log *slog.Logger
	st  *stackOut
	em  *ecsemu.Emulator
	tap *eventTap
	run *runner
	obs *Observed
	fs  []*follower
}

// runScenario sets up a fresh local AWS state, pushes the scenario's images and collects
// what happened.
func (l *local) runScenario(parent context.Context, sc Scenario, n, of int) (ScenarioReport, []SkippedResource, error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(parent, l.o.ScenarioTimeout)
	defer cancel()
	tl := l.tl
	tl.begin(sc, n, of)
	log := l.log.With("scenario", sc.Name)
	fault := sc.Fault
	if fault == nil {
		fault = &Fault{}
	}

	if err := l.moto.Reset(ctx); err != nil {
		return ScenarioReport{}, nil, fmt.Errorf("reset moto: %w", err)
	}
	st, err := l.createStack(ctx, sc)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	queue, err := l.subscribeResults(ctx, st.resultTopic)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	envr, err := l.createEnvironment(ctx, sc, st.smokeFunction)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	skipped := append(append([]SkippedResource(nil), st.b.skipped...), envr.b.skipped...)
	tl.event("template.yaml: %d resources created in moto (state machine, rule, %d Lambdas, topics, table, routes …); environment/template.yaml: load balancer, target groups, listener rules, 5xx-rate alarm",
		len(st.b.made), len(l.stack.OfType("AWS::Lambda::Function")))

	run := &runner{images: map[string]ecsemu.Command{}}
	blueDigest, err := l.putImage(ctx, blueTag, sc.Name)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	blueImage := registry + "/" + repository + "@" + blueDigest
	run.set(blueImage, l.command(blueTag, sc.Blue))
	svcProps, err := envr.finish(ctx, blueImage)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	tap := &eventTap{}
	em, err := ecsemu.New(ctx, ecsemu.Options{
		Upstream: l.moto.URL, AWS: &l.cfg, AccountID: account, Runner: run, TimeScale: l.o.TimeScale,
		TargetGroups: envr.tgs, TaskAddressBase: l.taskBase,
		LogDir: filepath.Join(l.workDir, sc.Name, "tasks"), Logger: l.log,
		OnEvent:  func(ev ecsemu.Event) { tl.emulatorEvent(ev); tap.on(ev) },
		Throttle: fault.ECSThrottle,
	})
	if err != nil {
		return ScenarioReport{}, nil, envErr(fmt.Errorf("start the ECS emulator: %w", err))
	}
	l.ecs.point(em.URL())
	defer func() {
		l.ecs.point("")
		tap.openAll()
		if err := em.Close(); err != nil {
			log.Error("close the emulator", "error", err)
		}
	}()
	first, err := em.CreateServiceFromTemplate(ctx, svcProps)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	tl.hide(first)
	blue, err := em.WaitDeployment(ctx, first)
	if err != nil || blue.Status != ecsemu.StatusSuccessful {
		return ScenarioReport{}, nil, fmt.Errorf("blue (%s) did not come up: %s %s %v", blueTag, blue.Status, blue.StatusReason, err)
	}
	prodURL, testURL, err := em.Listeners(clusterName, serviceName)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	rate := requestRate(l.o.Options, envr.minRequests)
	tl.event("blue %s serving: production listener %s, test listener %s; traffic: GET / at %.0f/s", blueTag, prodURL, testURL, rate)
	tr := startTraffic(prodURL, rate)
	stopped := false
	var stats RequestStats
	stopTraffic := func() {
		if !stopped {
			stats, stopped = tr.stop(), true
		}
	}
	defer stopTraffic()

	if sc.AlarmFiringFirst {
		if err := l.waitAlarm(ctx, cwtypes.StateValueAlarm); err != nil {
			return ScenarioReport{}, nil, err
		}
		tl.event("alarm %s is in ALARM: production is failing before any push", alarmName)
	}

	obs := &Observed{Scenario: sc, AlarmName: alarmName, BlueVersion: blueTag}
	r := &scenarioRun{l: l, sc: sc, log: log, st: st, em: em, tap: tap, run: run, obs: obs}
	if err := r.inject(fault); err != nil {
		return ScenarioReport{}, nil, err
	}
	defer r.clearFaults()

	chatFrom := l.receiver.count()
	for i, p := range sc.Pushes {
		if p.After > 0 {
			time.Sleep(p.After)
		}
		if p.AfterLock && i > 0 {
			if err := l.waitLocked(ctx, r.fs[i-1]); err != nil {
				return ScenarioReport{}, nil, err
			}
		}
		if p.Before != nil {
			if err := p.Before(ctx, r); err != nil {
				return ScenarioReport{}, nil, err
			}
		}
		po := PushObservation{Tag: p.Tag}
		if p.Repeat != nil {
			prev := obs.Pushes[*p.Repeat]
			po.Tag, po.Digest = prev.Tag, prev.Digest
		} else {
			d, err := l.putImage(ctx, p.Tag, sc.Name)
			if err != nil {
				return ScenarioReport{}, nil, err
			}
			po.Digest = d
			run.set(registry+"/"+repository+"@"+d, l.command(p.Tag, p.Faults))
		}
		po.Label = pushLabel(i, po.Tag)
		before, err := l.executions(ctx, st.stateMachine)
		if err != nil {
			return ScenarioReport{}, nil, err
		}
		po.PushedAt = time.Now()
		if err := l.pushEvent(ctx, po.Tag, po.Digest); err != nil {
			return ScenarioReport{}, nil, err
		}
		if po.Execution, err = l.newExecution(ctx, st.stateMachine, before); err != nil {
			return ScenarioReport{}, nil, err
		}
		what := "ECR PutImage + \"ECR Image Action\" event"
		if p.Repeat != nil {
			what = "the same \"ECR Image Action\" event again"
		}
		faults := ""
		if len(p.Faults) > 0 {
			faults = " [" + faultList(p.Faults) + "]"
		}
		tl.event("%s push %s:%s@%s%s: %s → execution %s", po.Label, repository, po.Tag, result.ShortDigest(po.Digest), faults, what, shortARN(po.Execution))
		obs.Pushes = append(obs.Pushes, po)
		r.fs = append(r.fs, &follower{arn: po.Execution, label: po.Label})
	}
	fs := r.fs

	// Follow the executions until each has ended and published its result, and the chat
	// messages have arrived.
	res := &results{}
	printed := map[int]bool{}
	var chatDone, endedAt time.Time
	settled := fault.Settle == nil
	for {
		allDone := true
		for _, f := range fs {
			if f.status == "" {
				if _, err := l.follow(ctx, f); err != nil && ctx.Err() == nil {
					log.Warn("follow execution", "execution", f.arn, "error", err)
				}
			}
			if f.status == "" {
				allDone = false
			}
		}
		if allDone && endedAt.IsZero() {
			endedAt = time.Now()
		}
		if err := res.poll(ctx, l.c.sqs, queue); err != nil && ctx.Err() == nil {
			log.Warn("read results", "error", err)
		}
		want := 0
		for i := range obs.Pushes {
			r, ok := res.of(obs.Pushes[i].Execution)
			if !ok {
				allDone = false
				continue
			}
			if !printed[i] {
				printed[i] = true
				obs.Pushes[i].Result = &r
				why := ""
				if r.Reason != nil {
					why = " — " + r.Reason.Summary
				}
				tl.event("%s result published: %s%s", obs.Pushes[i].Label, r.Outcome, why)
			}
			if r.Outcome != result.Skipped {
				want += chatWanted(st, fault, r.Outcome)
			}
		}
		msgs, _ := l.receiver.since(chatFrom)
		for _, m := range msgs[len(obs.Chat):] {
			first, _, _ := strings.Cut(m.Text, "\n")
			tl.event("chat → %s (%s): %s", m.Channel, m.Type, first)
		}
		obs.Chat = msgs
		if allDone && !settled {
			ok, err := fault.Settle(ctx, r)
			if err != nil && ctx.Err() == nil {
				log.Warn("settle", "error", err)
			}
			if chatDone.IsZero() {
				chatDone = time.Now()
			}
			settled = ok || time.Since(chatDone) > time.Minute
		}
		if allDone && settled {
			if chatDone.IsZero() {
				chatDone = time.Now()
			}
			// notify runs asynchronously after the result is published (SNS → Lambda).
			if len(obs.Chat) >= want || time.Since(chatDone) > 10*time.Second {
				break
			}
		}
		if !allDone && !endedAt.IsZero() && time.Since(endedAt) > 20*time.Second {
			// Every execution has ended, and a result is still missing after 20 s: it will
			// not come (the checks say which).
			tl.event("every execution has ended; %s", missingResults(obs, res))
			break
		}
		select {
		case <-ctx.Done():
			l.stopExecutions(fs)
			if parent.Err() != nil {
				return ScenarioReport{}, nil, parent.Err()
			}
			return ScenarioReport{}, nil, fmt.Errorf("scenario %s did not finish within %s (executions: %s); see %s", sc.Name, l.o.ScenarioTimeout, execStates(fs), l.workDir)
		case <-time.After(250 * time.Millisecond):
		}
	}
	// A last look for redeliveries and late chat messages (the invariants count them).
	time.Sleep(300 * time.Millisecond)
	_ = res.poll(ctx, l.c.sqs, queue)
	obs.Chat, _ = l.receiver.since(chatFrom)
	for i, f := range fs {
		p := &obs.Pushes[i]
		p.ExecutionStatus, p.Transitions, p.Entered, p.TaskFailures, p.Attempts = f.status, f.transitions, f.at, f.failures, f.attempts
	}
	obs.Published = res.everything()
	stopTraffic()
	obs.Requests = stats

	deps, err := em.Deployments(clusterName, serviceName)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	for _, d := range deps {
		if d.ARN != first {
			obs.Deployments = append(obs.Deployments, d)
		}
	}
	tr2, err := em.Traffic(clusterName, serviceName)
	if err != nil {
		return ScenarioReport{}, nil, err
	}
	obs.Production = productionPhases(tr2)
	r.collectFaults()
	obs.End = r.readEnd(ctx)

	failures := obs.checkOutcomes()
	for _, a := range sc.Assertions {
		if err := a.Check(obs); err != nil {
			failures = append(failures, a.Name+": "+err.Error())
		}
	}
	invariants := checkInvariants(obs)
	for _, v := range invariants {
		if !v.Held {
			failures = append(failures, "invariant "+v.Name+": "+v.Detail)
		}
	}
	sr := scenarioReport(obs, failures, time.Since(began))
	sr.Invariants = invariants
	tl.mute()
	writeScenario(l.o.Live, sr)
	log.Info("scenario done", "pass", sr.Pass, "outcome", sr.Outcome, "wall_seconds", sr.WallSeconds)
	return sr, skipped, nil
}

func missingResults(o *Observed, res *results) string {
	var out []string
	for _, p := range o.Pushes {
		if _, ok := res.of(p.Execution); !ok {
			out = append(out, p.Label)
		}
	}
	return "no result was published for " + strings.Join(out, ", ")
}

// chatWanted is how many chat messages a result should bring: one per channel of the
// rehearsed route that wants its outcome and does not fail on purpose.
func chatWanted(st *stackOut, f *Fault, o result.Outcome) int {
	n := 0
	for _, name := range st.route.Notify {
		if ch, ok := st.routes.Channels[name]; ok && notify.Wants(ch.Outcomes, o) && f.Webhooks[name] == 0 {
			n++
		}
	}
	return n
}

func faultList(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k+"="+f[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func execStates(fs []*follower) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.label+" "+orDash(f.status))
	}
	return strings.Join(out, ", ")
}

// stopExecutions stops executions still running (a scenario that timed out), so that the
// next scenario's reset does not pull the ground from under them.
func (l *local) stopExecutions(fs []*follower) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range fs {
		if f.status == "" {
			_, _ = l.c.sfn.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(f.arn), Error: aws.String("rehearsal.Timeout")})
		}
	}
}

// waitAlarm waits until the demo alarm is in state (the emulator evaluates it from the
// production traffic every emulated minute).
func (l *local) waitAlarm(ctx context.Context, state cwtypes.StateValue) error {
	limit := time.Duration(float64(15*time.Minute) * l.o.TimeScale)
	if limit < 30*time.Second {
		limit = 30 * time.Second
	}
	deadline := time.Now().Add(limit)
	for {
		out, err := l.c.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{alarmName}})
		if err == nil && len(out.MetricAlarms) == 1 && out.MetricAlarms[0].StateValue == state {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alarm %s did not reach %s within %s of failing production traffic", alarmName, state, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
