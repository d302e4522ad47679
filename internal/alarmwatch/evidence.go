package alarmwatch

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Evidence turns an alarm and the datapoints of its metric into the result's evidence.
// stage is the ECS lifecycle stage when greenlight saw the alarm fire ("" outside a
// deployment). When pts is empty (a composite alarm, a metric-math series moto cannot
// compute, a failed GetMetricData) the datapoints CloudWatch quoted in the alarm's state
// reason are used instead.
func Evidence(a Alarm, stage string, pts []result.Datapoint) result.AlarmEvidence {
	ev := result.AlarmEvidence{
		Name:              a.Name,
		State:             a.State,
		StateReason:       a.Reason,
		StateSince:        a.Since,
		Metric:            a.Metric,
		Comparison:        a.Comparison,
		Threshold:         a.Threshold,
		PeriodSeconds:     a.Period,
		EvaluationPeriods: a.EvaluationPeriods,
		DatapointsToAlarm: a.DatapointsToAlarm,
		Stage:             stage,
	}
	if a.Composite {
		return ev
	}
	if len(pts) == 0 {
		q, ok := ParseReason(a.Reason, a.ReasonData)
		if !ok {
			return ev
		}
		if q.Threshold != nil && ev.Threshold == 0 {
			ev.Threshold = *q.Threshold
		}
		ev.Datapoints = trim(q.Datapoints, a.Since, MaxDatapoints)
		ev.Breaching = q.Breaching
		if ev.Breaching == 0 {
			ev.Breaching = Breaching(ev.Datapoints, ev.Comparison, ev.Threshold, int(ev.EvaluationPeriods), a.Since)
		}
		return ev
	}
	ev.Datapoints = trim(pts, a.Since, MaxDatapoints)
	ev.Breaching = Breaching(ev.Datapoints, ev.Comparison, ev.Threshold, int(ev.EvaluationPeriods), a.Since)
	return ev
}

// Breaching counts the datapoints past the threshold among the last evaluationPeriods
// datapoints at or before cutoff (the alarm's state change), or among the last ones when
// none precede it.
func Breaching(pts []result.Datapoint, comparison string, threshold float64, evaluationPeriods int, cutoff time.Time) int {
	if evaluationPeriods <= 0 {
		evaluationPeriods = 1
	}
	sel := pts
	if !cutoff.IsZero() {
		end := 0
		for end < len(sel) && !sel[end].At.After(cutoff) {
			end++
		}
		if end > 0 {
			sel = sel[:end]
		}
	}
	if len(sel) > evaluationPeriods {
		sel = sel[len(sel)-evaluationPeriods:]
	}
	n := 0
	for _, p := range sel {
		if Crosses(comparison, p.Value, threshold) {
			n++
		}
	}
	return n
}

// Crosses reports whether v is past the threshold for the comparison operator. Anomaly
// band comparisons cannot be judged without the band and report false.
func Crosses(comparison string, v, threshold float64) bool {
	switch comparison {
	case "GreaterThanThreshold":
		return v > threshold
	case "GreaterThanOrEqualToThreshold":
		return v >= threshold
	case "LessThanThreshold":
		return v < threshold
	case "LessThanOrEqualToThreshold":
		return v <= threshold
	}
	return false
}

// trim keeps at most max datapoints: the most recent ones, unless that would drop the ones
// that led to the state change at cutoff, in which case the window is centred on it.
func trim(pts []result.Datapoint, cutoff time.Time, max int) []result.Datapoint {
	if len(pts) <= max {
		return pts
	}
	last := len(pts) - max
	if !cutoff.IsZero() {
		idx := -1
		for i, p := range pts {
			if !p.At.After(cutoff) {
				idx = i
			}
		}
		if idx >= 0 && idx < last {
			start := idx - max*3/4
			if start < 0 {
				start = 0
			}
			return pts[start : start+max]
		}
	}
	return pts[last:]
}

// Window is the time range greenlight reads an alarm's datapoints over.
type Window struct{ Start, End time.Time }

// DeploymentWindow covers the deployment, from a few periods before it started (so the
// datapoints ECS and the alarm evaluated first are there) to now. It never reaches back
// more than a day, and never less than 15 minutes.
func DeploymentWindow(a Alarm, startedAt, now time.Time) Window {
	lead := lookback(a)
	start := startedAt.Add(-lead)
	if startedAt.IsZero() || start.After(now.Add(-15*time.Minute)) {
		start = now.Add(-maxDur(lead, 15*time.Minute))
	}
	if now.Sub(start) > 24*time.Hour {
		start = now.Add(-24 * time.Hour)
	}
	return Window{Start: start, End: now}
}

// FiringWindow covers an alarm found in ALARM outside a deployment (preflight, post-deploy
// watch): the evaluation periods before it fired and everything since, at most three hours
// back, at least 15 minutes.
func FiringWindow(a Alarm, now time.Time) Window {
	lead := lookback(a)
	start := now.Add(-maxDur(lead, 15*time.Minute))
	if !a.Since.IsZero() && a.Since.Add(-lead).Before(start) {
		start = a.Since.Add(-lead)
	}
	if now.Sub(start) > 3*time.Hour {
		start = now.Add(-3 * time.Hour)
	}
	return Window{Start: start, End: now}
}

// lookback is the alarm's evaluation range plus two periods.
func lookback(a Alarm) time.Duration {
	p := time.Duration(a.Period) * time.Second
	if p <= 0 {
		p = time.Minute
	}
	n := a.EvaluationPeriods
	if n <= 0 {
		n = 1
	}
	return time.Duration(n+2) * p
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Quoted is what an alarm's state reason says about the datapoints it evaluated.
type Quoted struct {
	Datapoints []result.Datapoint
	// Breaching is how many datapoints crossed the threshold ("2 out of the last 3").
	Breaching int
	// Of is how many datapoints were evaluated (the 3 of "2 out of the last 3").
	Of        int
	Threshold *float64
}

// reasonRE matches CloudWatch's "Threshold Crossed" reason:
// "Threshold Crossed: 2 out of the last 3 datapoints [48.0 (20/11/26 10:04:00), 51.2
// (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for
// OK -> ALARM transition)." and "Threshold Crossed: 1 datapoint [1.0 (15/05/25
// 15:29:00)] was greater than the threshold (0.0)."
var (
	reasonRE = regexp.MustCompile(`Threshold Crossed: (?:(\d+) out of the last (\d+) datapoints?|(\d+) datapoints?) \[([^\]]*)\] (?:was|were) ([a-z ]+) the threshold \(([-+0-9.eE]+)\)`)
	pointRE  = regexp.MustCompile(`([-+0-9.eE]+) \((\d\d/\d\d/\d\d \d\d:\d\d:\d\d)\)`)
)

// reasonTimeLayout is how a state reason writes datapoint times (UTC, day first).
const reasonTimeLayout = "02/01/06 15:04:05"

// reasonDataTimeLayout is StateReasonData's timestamp layout ("+0000", not RFC 3339).
const reasonDataTimeLayout = "2006-01-02T15:04:05.000-0700"

type reasonData struct {
	Threshold           *float64 `json:"threshold"`
	EvaluatedDatapoints []struct {
		Timestamp string   `json:"timestamp"`
		Value     *float64 `json:"value"`
	} `json:"evaluatedDatapoints"`
}

// ParseReason reads the datapoints an alarm's state quotes: first from StateReasonData
// (evaluatedDatapoints), then from the "Threshold Crossed: …" text. It reports false when
// neither says anything (a reason set by hand, "Unchecked: Initial alarm creation").
func ParseReason(reason, data string) (Quoted, bool) {
	var q Quoted
	if strings.TrimSpace(data) != "" {
		var rd reasonData
		if err := json.Unmarshal([]byte(data), &rd); err == nil {
			for _, e := range rd.EvaluatedDatapoints {
				if e.Value == nil {
					continue
				}
				at, err := time.Parse(reasonDataTimeLayout, e.Timestamp)
				if err != nil {
					if at, err = time.Parse(time.RFC3339, e.Timestamp); err != nil {
						continue
					}
				}
				q.Datapoints = append(q.Datapoints, result.Datapoint{At: at.UTC(), Value: *e.Value})
			}
			q.Threshold = rd.Threshold
		}
	}
	m := reasonRE.FindStringSubmatch(reason)
	if m != nil {
		if m[1] != "" {
			q.Breaching, _ = strconv.Atoi(m[1])
			q.Of, _ = strconv.Atoi(m[2])
		} else {
			q.Breaching, _ = strconv.Atoi(m[3])
			q.Of = q.Breaching
		}
		// "… was not greater than …" is how CloudWatch words a return to OK.
		if strings.HasPrefix(m[5], "not ") {
			q.Breaching = 0
		}
		if q.Threshold == nil {
			if t, err := strconv.ParseFloat(m[6], 64); err == nil {
				q.Threshold = &t
			}
		}
		if len(q.Datapoints) == 0 {
			for _, pm := range pointRE.FindAllStringSubmatch(m[4], -1) {
				v, err1 := strconv.ParseFloat(pm[1], 64)
				at, err2 := time.Parse(reasonTimeLayout, pm[2])
				if err1 == nil && err2 == nil {
					q.Datapoints = append(q.Datapoints, result.Datapoint{At: at.UTC(), Value: v})
				}
			}
		}
	}
	if len(q.Datapoints) == 0 && m == nil {
		return Quoted{}, false
	}
	sortPoints(q.Datapoints)
	return q, true
}

func sortPoints(pts []result.Datapoint) {
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].At.Before(pts[j-1].At); j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
}
