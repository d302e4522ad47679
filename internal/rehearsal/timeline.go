package rehearsal

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
)

// timeline prints what happens as it happens, for people: each line with the time since
// the scenario began.
type timeline struct {
	w     io.Writer
	scale float64

	mu     sync.Mutex
	began  time.Time
	ignore map[string]bool // service deployments not to show (blue's creation)
	muted  bool            // between scenarios (the emulator closing)
	stages map[string]stageMark
	status map[string]string
	notes  []string
}

type stageMark struct {
	stage string
	at    time.Time
}

func newTimeline(w io.Writer, scale float64) *timeline {
	return &timeline{w: w, scale: scale, began: time.Now(), ignore: map[string]bool{}, stages: map[string]stageMark{}, status: map[string]string{}}
}

func (t *timeline) printf(format string, a ...any) {
	if t == nil || t.w == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format, a...)
}

// setup prints a set-up line.
func (t *timeline) setup(format string, a ...any) { t.printf("  setup   "+format+"\n", a...) }

// note records a remark for the report and prints it.
func (t *timeline) note(format string, a ...any) {
	if t == nil {
		return
	}
	msg := fmt.Sprintf(format, a...)
	t.mu.Lock()
	t.notes = append(t.notes, msg)
	t.mu.Unlock()
	t.printf("  note    %s\n", msg)
}

// begin starts a scenario's clock.
func (t *timeline) begin(sc Scenario, n, of int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.began = time.Now()
	t.muted = false
	t.ignore, t.stages, t.status = map[string]bool{}, map[string]stageMark{}, map[string]string{}
	t.mu.Unlock()
	exp := make([]string, len(sc.Pushes))
	for i, p := range sc.Pushes {
		exp[i] = string(p.Expect)
	}
	t.printf("\n── scenario %d/%d: %s — %s\n   expect: %s\n", n, of, sc.Name, sc.Description, strings.Join(exp, ", "))
}

// event prints one line at the scenario's clock.
func (t *timeline) event(format string, a ...any) {
	if t == nil {
		return
	}
	t.mu.Lock()
	el := time.Since(t.began)
	t.mu.Unlock()
	t.printf("  %7s  %s\n", fmt.Sprintf("+%.1fs", el.Seconds()), fmt.Sprintf(format, a...))
}

// mute stops showing emulator events until the next scenario begins.
func (t *timeline) mute() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.muted = true
	t.mu.Unlock()
}

func (t *timeline) hide(arn string) {
	t.mu.Lock()
	t.ignore[arn] = true
	t.mu.Unlock()
}

// durations renders "5m0s (3.0s)": the emulated (AWS) duration and the wall time it took.
func durations(wall time.Duration, scale float64) string {
	em := time.Duration(float64(wall) / scale)
	return fmt.Sprintf("%s (%s)", emulatedString(em), wallString(wall))
}

func emulatedString(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func wallString(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func shortARN(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// emulatorEvent shows what the ECS emulator did: stages (with the time the previous one
// took), statuses, hooks, tasks, alarms and weights.
func (t *timeline) emulatorEvent(ev ecsemu.Event) {
	if t == nil || t.w == nil {
		return
	}
	t.mu.Lock()
	hidden := t.muted || ev.ServiceDeploymentARN != "" && t.ignore[ev.ServiceDeploymentARN]
	var closed string
	if !hidden && ev.Kind == ecsemu.EventStage {
		if prev, ok := t.stages[ev.ServiceDeploymentARN]; ok {
			closed = fmt.Sprintf("%-30s %s", prev.stage, durations(ev.Time.Sub(prev.at), t.scale))
		}
		t.stages[ev.ServiceDeploymentARN] = stageMark{ev.Stage, ev.Time}
	}
	var final string
	if !hidden && ev.Kind == ecsemu.EventStatus {
		t.status[ev.ServiceDeploymentARN] = ev.Status
		switch ev.Status {
		case ecsemu.StatusSuccessful, ecsemu.StatusStopped, ecsemu.StatusRollbackSuccessful, ecsemu.StatusRollbackFailed:
			if prev, ok := t.stages[ev.ServiceDeploymentARN]; ok {
				final = fmt.Sprintf("%-30s %s", prev.stage, durations(ev.Time.Sub(prev.at), t.scale))
				delete(t.stages, ev.ServiceDeploymentARN)
			}
		}
	}
	rollback := strings.HasPrefix(t.status[ev.ServiceDeploymentARN], "ROLLBACK")
	t.mu.Unlock()
	if hidden {
		return
	}
	mark := "stage"
	if rollback {
		mark = "stage ↩"
	}
	switch ev.Kind {
	case ecsemu.EventStage:
		if closed != "" {
			t.event("  %s %s", mark, closed)
		}
	case ecsemu.EventStatus:
		if final != "" {
			t.event("  %s %s", mark, final)
		}
		msg := ""
		if ev.Message != "" && ev.Status != ecsemu.StatusInProgress && ev.Status != ecsemu.StatusPending {
			msg = ": " + ev.Message
		}
		t.event("ECS service deployment %s %s%s", shortARN(ev.ServiceDeploymentARN), ev.Status, msg)
	case ecsemu.EventHook, ecsemu.EventAlarm, ecsemu.EventWeight:
		t.event("  %s: %s", ev.Kind, shortARNs(ev.Message))
	case ecsemu.EventTask:
		t.event("  task %s", shortARNs(taskMessage(ev.Message)))
	}
}

// taskMessage shortens the task ARN at the start of an emulator task message.
func taskMessage(m string) string {
	first, rest, ok := strings.Cut(m, " ")
	if ok && strings.Contains(first, ":task/") {
		id := shortARN(strings.TrimSuffix(first, ":"))
		if len(id) > 8 {
			id = id[:8]
		}
		if strings.HasSuffix(first, ":") {
			return id + ": " + rest
		}
		return id + " " + rest
	}
	return m
}

var arnRE = regexp.MustCompile(`arn:aws:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:([A-Za-z0-9_./:+=,@-]+)`)

// shortARNs replaces ARNs in an emulator message by the names people know them by:
// target groups and functions by name, listener rules by their last ID.
func shortARNs(m string) string {
	return arnRE.ReplaceAllStringFunc(m, func(a string) string {
		res := arnRE.FindStringSubmatch(a)[1]
		switch {
		case strings.HasPrefix(res, "targetgroup/"):
			return strings.Split(res, "/")[1]
		case strings.HasPrefix(res, "function:"):
			return strings.TrimPrefix(res, "function:")
		case strings.HasPrefix(res, "listener-rule/"):
			return "rule " + shortARN(res)[:min(8, len(shortARN(res)))]
		case strings.HasPrefix(res, "alarm:"):
			return strings.TrimPrefix(res, "alarm:")
		}
		return a
	})
}
