package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// StatusView is the JSON of `status` (one object; with --watch, one per line on change).
type StatusView struct {
	At       time.Time       `json:"at"`
	Services []ServiceStatus `json:"services"`
}

// ServiceStatus is one service's state.
type ServiceStatus struct {
	Service    string                 `json:"service"`
	Route      string                 `json:"route,omitempty"`
	Lock       *LockView              `json:"lock,omitempty"`
	Queued     *QueueView             `json:"queued,omitempty"`
	Deployment *DeploymentView        `json:"deployment,omitempty"`
	Smoke      []result.CheckEvidence `json:"smoke"`
	Alarms     []AlarmView            `json:"alarms"`
	LastResult *ResultBrief           `json:"lastResult,omitempty"`
	// Errors lists what could not be read (the rest is still shown).
	Errors []string `json:"errors,omitempty"`
}

// LockView is the ledger lock.
type LockView struct {
	Execution  string       `json:"execution"`
	JobID      string       `json:"jobId"`
	Image      result.Image `json:"image"`
	AcquiredAt time.Time    `json:"acquiredAt"`
	LeaseUntil time.Time    `json:"leaseUntil"`
	Expired    bool         `json:"expired"`
}

// QueueView is the newest push waiting for the lock.
type QueueView struct {
	Execution string       `json:"execution"`
	Image     result.Image `json:"image"`
	PushedAt  time.Time    `json:"pushedAt"`
}

// AlarmView is one route alarm's state.
type AlarmView struct {
	Name      string     `json:"name"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

// ResultBrief is the newest ledger record.
type ResultBrief struct {
	ID              string         `json:"id"`
	Outcome         string         `json:"outcome"`
	Image           result.Image   `json:"image"`
	StartedAt       time.Time      `json:"startedAt"`
	FinishedAt      time.Time      `json:"finishedAt"`
	DurationSeconds float64        `json:"durationSeconds"`
	Reason          *result.Reason `json:"reason,omitempty"`
}

// busy reports whether greenlight or ECS is still working on the service.
func (s ServiceStatus) busy() bool {
	return (s.Lock != nil && !s.Lock.Expired) || (s.Deployment != nil && s.Deployment.Active)
}

// Status is `greenlight status`.
func Status() *Command {
	var service string
	var watch bool
	var interval time.Duration
	return &Command{
		Name:    "status",
		Summary: "the current or last deployment per service, live with --watch",
		Usage:   "status [--service CLUSTER/SERVICE] [--watch [--interval D]]",
		Description: `For each service in the routes (or the one named): the ECS service deployment in progress,
or the last one (status, lifecycle stage, traffic weights and task counts of the new and old
revisions, hook runs, ECS's alarm monitoring), elapsed time against the expected time
(median of the service's successful deployments, else its bake time), the latest smoke-test
evidence, the route alarms' states, greenlight's lock and queue, and the last result.

--watch redraws until nothing is deploying (on a terminal; otherwise it appends a line per
change) and exits 0 if every deployment it saw ended SUCCESSFUL, 1 otherwise.`,
		Examples: []string{
			"greenlight status",
			"greenlight status --service prod/web --watch",
			"greenlight status -o json | jq '.services[] | {service, stage: .deployment.stage}'",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&service, "service", "", "one service: CLUSTER/SERVICE (or a name unique in the routes); default every routed service")
			fs.BoolVar(&watch, "watch", false, "keep redrawing until the deployments end")
			fs.DurationVar(&interval, "interval", 5*time.Second, "how often --watch refreshes")
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			if interval <= 0 {
				return Usagef("--interval must be positive")
			}
			var targets []target
			if service != "" {
				t, err := e.target(ctx, service)
				if err != nil {
					return err
				}
				targets = []target{t}
			} else {
				doc, err := e.Routes(ctx)
				if err != nil {
					return err
				}
				targets = allTargets(doc)
				if len(targets) == 0 {
					return NotFoundf("the routes have no targets: add one with `greenlight routes put FILE`")
				}
			}
			if !watch {
				view, err := e.snapshot(ctx, targets)
				if err != nil {
					return err
				}
				if err := e.Emit(view, func(w io.Writer) { e.printStatus(w, view, nil) }); err != nil {
					return err
				}
				return partial(view)
			}
			return e.watch(ctx, targets, interval)
		},
	}
}

// partial turns read errors into exit 3 after the rest was printed.
func partial(v StatusView) error {
	for _, s := range v.Services {
		if len(s.Errors) > 0 {
			return silent{ExitAWS}
		}
	}
	return nil
}

// snapshot reads everything status shows, for every target.
func (e *Env) snapshot(ctx context.Context, targets []target) (StatusView, error) {
	view := StatusView{At: e.Now().UTC()}
	c, err := e.Clients(ctx)
	if err != nil {
		return view, err
	}
	lg, err := e.Ledger(ctx)
	if err != nil {
		return view, err
	}
	for _, t := range targets {
		s := ServiceStatus{Service: t.Key(), Smoke: []result.CheckEvidence{}, Alarms: []AlarmView{}}
		fail := func(what string, err error) {
			if ctx.Err() == nil {
				s.Errors = append(s.Errors, fmt.Sprintf("%s: %v", what, err))
			}
		}
		if t.Route != nil {
			s.Route = t.Route.Name
		}
		now := e.Now()
		if h, err := lg.Lock(ctx, t.Key()); err != nil {
			fail("lock", err)
		} else if h != nil {
			s.Lock = &LockView{Execution: h.Execution, JobID: h.JobID, Image: h.Image, AcquiredAt: h.AcquiredAt, LeaseUntil: h.LeaseUntil, Expired: h.LeaseUntil.Before(now)}
		}
		if q, err := lg.Queue(ctx, t.Key()); err != nil {
			fail("queue", err)
		} else if q != nil {
			s.Queued = &QueueView{Execution: q.Execution, Image: q.Image, PushedAt: q.PushedAt}
		}
		hist, err := lg.History(ctx, t.Key(), 20)
		if err != nil {
			fail("history", err)
		}
		if len(hist) > 0 {
			r := hist[0]
			s.LastResult = &ResultBrief{ID: r.ID, Outcome: string(r.Outcome), Image: r.Image, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DurationSeconds: r.DurationSeconds, Reason: r.Reason}
		}
		sd, err := latestDeployment(ctx, c.ECS, t)
		if err != nil {
			fail("ECS deployments", err)
		} else if sd != nil {
			v := deploymentView(*sd, now)
			fillRevisions(ctx, c.ECS, &v)
			v.ExpectedSeconds, v.ExpectedBasis = expectedDuration(hist, e.bakeMinutes(ctx, c, t))
			s.Deployment = &v
			if ev, err := lg.SmokeEvidence(ctx, v.ARN); err != nil {
				fail("smoke evidence", err)
			} else if ev != nil {
				s.Smoke = ev
			}
		}
		if t.Route != nil && t.Route.Alarms != nil && len(t.Route.Alarms.Names) > 0 {
			al, err := describeAlarms(ctx, c.CloudWatch, t.Route.Alarms.Names)
			if err != nil {
				fail("alarms", err)
			}
			s.Alarms = al
		}
		view.Services = append(view.Services, s)
	}
	if err := ctx.Err(); err != nil {
		return view, err
	}
	return view, nil
}

func describeAlarms(ctx context.Context, c CloudWatchAPI, names []string) ([]AlarmView, error) {
	out, err := c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	if err != nil {
		return []AlarmView{}, err
	}
	found := map[string]AlarmView{}
	for _, a := range out.MetricAlarms {
		found[aws.ToString(a.AlarmName)] = AlarmView{Name: aws.ToString(a.AlarmName), State: string(a.StateValue), Reason: aws.ToString(a.StateReason), UpdatedAt: a.StateUpdatedTimestamp}
	}
	for _, a := range out.CompositeAlarms {
		found[aws.ToString(a.AlarmName)] = AlarmView{Name: aws.ToString(a.AlarmName), State: string(a.StateValue), Reason: aws.ToString(a.StateReason), UpdatedAt: a.StateUpdatedTimestamp}
	}
	views := []AlarmView{}
	for _, n := range names {
		if v, ok := found[n]; ok {
			views = append(views, v)
		} else {
			views = append(views, AlarmView{Name: n, State: "MISSING"})
		}
	}
	return views, nil
}

// bakeMinutes reads the service's bake time (0 when unknown).
func (e *Env) bakeMinutes(ctx context.Context, c *Clients, t target) int {
	out, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.Cluster), Services: []string{t.Service}})
	if err != nil || len(out.Services) == 0 || out.Services[0].DeploymentConfiguration == nil {
		return 0
	}
	return int(aws.ToInt32(out.Services[0].DeploymentConfiguration.BakeTimeInMinutes))
}

// expectedDuration is the median duration of the service's successful deployments in the
// history, or else the bake time (a lower bound), or 0 when nothing is known.
func expectedDuration(hist []result.Result, bakeMinutes int) (float64, string) {
	var d []float64
	for _, r := range hist {
		if r.Outcome == result.Succeeded && r.DurationSeconds > 0 {
			d = append(d, r.DurationSeconds)
		}
	}
	if len(d) > 0 {
		sort.Float64s(d)
		m := d[len(d)/2]
		if len(d)%2 == 0 {
			m = (d[len(d)/2-1] + d[len(d)/2]) / 2
		}
		return m, fmt.Sprintf("median of %s", plural(len(d), "successful deployment", "successful deployments"))
	}
	if bakeMinutes > 0 {
		return float64(bakeMinutes * 60), "bake time (at least)"
	}
	return 0, ""
}

func weight(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%g%%", *p)
}

func (e *Env) printStatus(w io.Writer, v StatusView, timelines map[string][]stageMark) {
	now := v.At
	for i, s := range v.Services {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := e.Paint(Bold, s.Service)
		if s.Route != "" {
			head += e.Paint(Dim, "  route "+s.Route)
		}
		fmt.Fprintln(w, head)
		tb := &Table{}
		if d := s.Deployment; d != nil {
			word := "last deployment"
			if d.Active {
				word = "deployment"
			}
			line := fmt.Sprintf("stage %s", orDash(d.Stage))
			if d.StartedAt != nil {
				line += ", started " + Ago(now, *d.StartedAt)
			}
			el := "elapsed " + Seconds(d.ElapsedSeconds)
			if d.ExpectedSeconds > 0 {
				el += fmt.Sprintf(" of ~%s (%s)", Seconds(d.ExpectedSeconds), d.ExpectedBasis)
			}
			tb.Add(C(word), Cs(OutcomeStyle(d.Status), d.Status), C(line+", "+el))
			if d.StatusReason != "" {
				tb.Add(C(""), C(""), Cs(Dim, d.StatusReason))
			}
			rev := func(label string, r RevisionView) {
				txt := fmt.Sprintf("tasks %d/%d running", r.RunningTasks, r.RequestedTasks)
				if r.PendingTasks > 0 {
					txt += fmt.Sprintf(" (%d pending)", r.PendingTasks)
				}
				txt += fmt.Sprintf(", production %s, test %s", weight(r.ProductionWeight), weight(r.TestWeight))
				tb.Add(C(label), C(revisionID(r.ARN)), C(txt))
				for _, img := range r.Images {
					tb.Add(C(""), C(""), Cs(Dim, img))
				}
			}
			if d.Target != nil {
				rev("new revision", *d.Target)
			}
			for _, src := range d.Sources {
				rev("old revision", src)
			}
			for _, h := range d.Hooks {
				tb.Add(C("hook"), Cs(OutcomeStyle(h.Status), h.Status), C(lastPart(h.TargetARN)))
			}
			if d.AlarmStatus != "" {
				txt := "ECS alarm monitoring"
				if len(d.TriggeredAlarms) > 0 {
					txt += ", triggered: " + strings.Join(d.TriggeredAlarms, ", ")
				}
				tb.Add(C("ECS alarms"), Cs(alarmMonitorStyle(d.AlarmStatus), d.AlarmStatus), C(txt))
			}
			if d.RollbackReason != "" {
				tb.Add(C("rollback"), Cs(Red, "reason"), C(d.RollbackReason))
			}
		} else {
			tb.Add(C("deployment"), Cs(Dim, "none"), C("ECS reports no service deployment"))
		}
		for _, st := range smokeSummary(s.Smoke) {
			tb.Add(C("smoke"), Cs(OutcomeStyle(st.word), st.word), C(st.text))
		}
		for _, a := range s.Alarms {
			txt := ""
			if a.UpdatedAt != nil {
				txt = "since " + Ago(now, *a.UpdatedAt)
			}
			if a.State == "MISSING" {
				txt = "no such alarm (run greenlight verify)"
			}
			tb.Add(C("alarm "+a.Name), Cs(OutcomeStyle(a.State), a.State), C(txt))
		}
		if l := s.Lock; l != nil {
			state, st := "held", Yellow
			if l.Expired {
				state, st = "expired", Dim
			}
			tb.Add(C("lock"), Cs(st, state), C(fmt.Sprintf("%s by %s since %s", l.Image.String(), shortExecution(l.Execution), Ago(now, l.AcquiredAt))))
		}
		if q := s.Queued; q != nil {
			tb.Add(C("queued"), Cs(Yellow, "waiting"), C(fmt.Sprintf("%s pushed %s (%s)", q.Image.String(), Ago(now, q.PushedAt), shortExecution(q.Execution))))
		}
		if r := s.LastResult; r != nil {
			txt := fmt.Sprintf("%s, finished %s, took %s", r.Image.String(), Ago(now, r.FinishedAt), Seconds(r.DurationSeconds))
			if r.Reason != nil {
				txt += " — " + reasonLabel(r.Reason, 80)
			}
			tb.Add(C("last result"), Cs(OutcomeStyle(r.Outcome), r.Outcome), C(txt))
		}
		for _, er := range s.Errors {
			tb.Add(C("error"), Cs(Red, "unreadable"), C(er))
		}
		for _, r := range tb.Rows {
			r[0].Text = "  " + r[0].Text
		}
		tb.Write(e, w)
		if marks := timelines[s.Service]; len(marks) > 0 {
			var parts []string
			for _, m := range marks {
				parts = append(parts, m.At.UTC().Format("15:04:05")+" "+m.Stage)
			}
			fmt.Fprintf(w, "  timeline  %s\n", strings.Join(parts, " → "))
		}
	}
}

func alarmMonitorStyle(s string) Style {
	switch s {
	case "TRIGGERED":
		return Red
	case "MONITORING", "MONITORING_COMPLETE":
		return Green
	}
	return Dim
}

type smokeLine struct{ word, text string }

// smokeSummary condenses checks per stage: "3/3 passed at POST_SCALE_UP" and one line per
// failed check with its evidence.
func smokeSummary(checks []result.CheckEvidence) []smokeLine {
	var order []string
	by := map[string][]result.CheckEvidence{}
	for _, c := range checks {
		if _, ok := by[c.Stage]; !ok {
			order = append(order, c.Stage)
		}
		by[c.Stage] = append(by[c.Stage], c)
	}
	var out []smokeLine
	for _, st := range order {
		cs := by[st]
		pass := 0
		for _, c := range cs {
			if c.Passed {
				pass++
			}
		}
		word := "PASS"
		if pass < len(cs) {
			word = "FAIL"
		}
		out = append(out, smokeLine{word, fmt.Sprintf("%d/%d checks passed at %s", pass, len(cs), st)})
		for _, c := range cs {
			if !c.Passed {
				out = append(out, smokeLine{"FAIL", c.Check + ": " + c.Summary()})
			}
		}
	}
	return out
}

func revisionID(arn string) string {
	if arn == "" {
		return "-"
	}
	return "rev " + lastPart(arn)
}

func lastPart(arn string) string {
	if i := strings.LastIndexAny(arn, "/:"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

type stageMark struct {
	At    time.Time
	Stage string
}

// watchKey is what a change is measured on: one line per change in non-terminal output.
func watchKey(s ServiceStatus) string {
	k := ""
	if d := s.Deployment; d != nil {
		k += d.ARN + "|" + d.Status + "|" + d.Stage
		if d.Target != nil {
			k += fmt.Sprintf("|%s/%s|%d/%d", weight(d.Target.ProductionWeight), weight(d.Target.TestWeight), d.Target.RunningTasks, d.Target.RequestedTasks)
		}
		for _, h := range d.Hooks {
			k += "|" + h.Status
		}
	}
	if s.Lock != nil && !s.Lock.Expired {
		k += "|lock:" + s.Lock.Execution
	}
	if s.Queued != nil {
		k += "|queue:" + s.Queued.Execution
	}
	for _, a := range s.Alarms {
		k += "|" + a.Name + "=" + a.State
	}
	return k
}

// watchLine is the appended line for a change.
func watchLine(s ServiceStatus, at time.Time) string {
	parts := []string{at.UTC().Format("15:04:05"), s.Service}
	if d := s.Deployment; d != nil {
		parts = append(parts, d.Status, orDash(d.Stage))
		if d.Target != nil {
			parts = append(parts, fmt.Sprintf("new: production %s test %s tasks %d/%d", weight(d.Target.ProductionWeight), weight(d.Target.TestWeight), d.Target.RunningTasks, d.Target.RequestedTasks))
		}
		if len(d.Hooks) > 0 {
			var hs []string
			for _, h := range d.Hooks {
				hs = append(hs, h.Status)
			}
			parts = append(parts, "hooks "+strings.Join(hs, ","))
		}
	} else {
		parts = append(parts, "no ECS deployment")
	}
	if s.Lock != nil && !s.Lock.Expired {
		parts = append(parts, "lock "+shortExecution(s.Lock.Execution))
	}
	if s.Queued != nil {
		parts = append(parts, "queued "+s.Queued.Image.String())
	}
	for _, a := range s.Alarms {
		parts = append(parts, a.Name+" "+a.State)
	}
	return strings.Join(parts, "  ")
}

// watch redraws (terminal) or appends changes (anything else) until no target is busy.
func (e *Env) watch(ctx context.Context, targets []target, interval time.Duration) error {
	tty := e.IsTerminal(e.Stdout) && !e.JSON()
	keys := map[string]string{}
	timelines := map[string][]stageMark{}
	seen := map[string]DeploymentView{} // deployments observed active
	for first := true; ; first = false {
		view, err := e.snapshot(ctx, targets)
		if err != nil {
			return err
		}
		busy := false
		for _, s := range view.Services {
			busy = busy || s.busy()
			if d := s.Deployment; d != nil {
				marks := timelines[s.Service]
				if d.Active || seen[s.Service].ARN == d.ARN {
					if len(marks) == 0 || marks[len(marks)-1].Stage != d.Stage {
						timelines[s.Service] = append(marks, stageMark{At: view.At, Stage: d.Stage})
					}
				}
				if d.Active || seen[s.Service].ARN == d.ARN {
					seen[s.Service] = *d
				}
			}
		}
		switch {
		case e.JSON():
			changed := first
			for _, s := range view.Services {
				if k := watchKey(s); keys[s.Service] != k {
					keys[s.Service] = k
					changed = true
				}
			}
			if changed {
				b, _ := json.Marshal(view)
				fmt.Fprintln(e.Stdout, string(b))
			}
		case tty:
			fmt.Fprint(e.Stdout, "\x1b[H\x1b[2J")
			e.printStatus(e.Stdout, view, timelines)
			if busy {
				fmt.Fprintf(e.Stdout, "\n%s\n", e.Paint(Dim, fmt.Sprintf("refreshing every %s; Ctrl-C to stop watching (the deployment goes on)", interval)))
			}
		default:
			for _, s := range view.Services {
				if k := watchKey(s); keys[s.Service] != k {
					keys[s.Service] = k
					fmt.Fprintln(e.Stdout, watchLine(s, view.At))
				}
			}
		}
		if !busy {
			return watchVerdict(view, seen)
		}
		if err := e.Sleep(ctx, interval); err != nil {
			return err
		}
	}
}

// watchVerdict: 0 when every deployment seen running ended SUCCESSFUL (or none was running).
func watchVerdict(final StatusView, seen map[string]DeploymentView) error {
	for _, s := range final.Services {
		if _, ok := seen[s.Service]; !ok {
			continue
		}
		if s.Deployment == nil || s.Deployment.Status != "SUCCESSFUL" {
			return silent{ExitFailed}
		}
	}
	return nil
}
