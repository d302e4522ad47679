package alarmwatch

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

func at(h, m int) time.Time { return time.Date(2026, 11, 20, h, m, 0, 0, time.UTC) }

func TestFromMetricAlarmFixture(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.loadFixture(t, "testdata/describe-alarms.json")
	found, missing, err := describe(context.Background(), cw, []string{"web-5xx-rate", "web-5xx-count", "web-guard", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(missing, []string{"nope"}) {
		t.Errorf("missing = %v, want [nope]", missing)
	}
	rate := found["web-5xx-rate"]
	if rate.Metric != "5xx rate %" || rate.Period != 60 || rate.EvaluationPeriods != 3 || rate.DatapointsToAlarm != 2 ||
		rate.Threshold != 5 || rate.Comparison != "GreaterThanThreshold" || rate.State != "ALARM" || rate.returnID != "rate" || len(rate.queries) != 7 {
		t.Errorf("metric-math alarm = %+v", rate)
	}
	if want := time.Date(2026, 11, 20, 10, 5, 12, 350e6, time.UTC); !rate.Since.Equal(want) {
		t.Errorf("since = %v, want %v", rate.Since, want)
	}
	count := found["web-5xx-count"]
	if count.Metric != "HTTPCode_Target_5XX_Count Sum" || count.returnID != "m0" || len(count.queries) != 1 || count.DatapointsToAlarm != 1 {
		t.Errorf("plain alarm = %+v", count)
	}
	q := count.queries[0]
	if aws.ToString(q.MetricStat.Metric.MetricName) != "HTTPCode_Target_5XX_Count" || aws.ToString(q.MetricStat.Stat) != "Sum" ||
		aws.ToInt32(q.MetricStat.Period) != 60 || len(q.MetricStat.Metric.Dimensions) != 1 {
		t.Errorf("plain alarm query = %+v", q.MetricStat)
	}
	if g := found["web-guard"]; !g.Composite || g.State != "ALARM" || g.Metric != "" {
		t.Errorf("composite alarm = %+v", g)
	}
}

func TestSeriesMetricMathSendsTheAlarmsQueriesVerbatim(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.loadFixture(t, "testdata/describe-alarms.json")
	cw.series["rate"] = []result.Datapoint{{At: at(10, 3), Value: 48}, {At: at(10, 2), Value: 1.5}, {At: at(10, 4), Value: 51.2}}
	cw.series["e1"] = []result.Datapoint{{At: at(10, 3), Value: 999}} // not returned: ReturnData false
	found, _, _ := describe(context.Background(), cw, []string{"web-5xx-rate"})
	pts, err := series(context.Background(), cw, found["web-5xx-rate"], at(9, 55), at(10, 10))
	if err != nil {
		t.Fatal(err)
	}
	want := []result.Datapoint{{At: at(10, 2), Value: 1.5}, {At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 51.2}}
	if !reflect.DeepEqual(pts, want) {
		t.Errorf("series = %v, want %v (only the ReturnData query, oldest first)", pts, want)
	}
	in := cw.dataInputs[0]
	if len(in.MetricDataQueries) != 7 || aws.ToString(in.MetricDataQueries[6].Expression) != "IF(req > 0, 100 * err / req, 0)" {
		t.Errorf("queries sent = %+v; want the alarm's 7 queries verbatim", in.MetricDataQueries)
	}
}

func TestEvidenceMetricMathWithSeries(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.loadFixture(t, "testdata/describe-alarms.json")
	found, _, _ := describe(context.Background(), cw, []string{"web-5xx-rate"})
	a := found["web-5xx-rate"]
	pts := []result.Datapoint{
		{At: at(10, 0), Value: 0}, {At: at(10, 1), Value: 0.4}, {At: at(10, 2), Value: 1.5}, {At: at(10, 3), Value: 48},
		{At: at(10, 4), Value: 51.2}, {At: at(10, 6), Value: 0.2}, {At: at(10, 7), Value: 0}, // after the rollback
	}
	ev := Evidence(a, "BAKE_TIME", pts)
	if ev.Breaching != 2 {
		t.Errorf("breaching = %d, want 2 (the 3 periods before the alarm fired at 10:05)", ev.Breaching)
	}
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q\nwant        %q", got, want)
	}
}

// moto (and a failed GetMetricData) give an empty series for a metric-math alarm: the
// evidence then uses the datapoints the alarm's state quotes.
func TestEvidenceEmptySeriesUsesTheStateReason(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.loadFixture(t, "testdata/describe-alarms.json")
	found, _, _ := describe(context.Background(), cw, []string{"web-5xx-rate"})
	a := found["web-5xx-rate"]

	ev := Evidence(a, "BAKE_TIME", nil)
	if ev.Breaching != 2 || len(ev.Datapoints) != 3 {
		t.Errorf("from StateReasonData: breaching %d, %d datapoints; want 2, 3", ev.Breaching, len(ev.Datapoints))
	}
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}

	a.ReasonData = "" // only the text
	ev = Evidence(a, "BAKE_TIME", nil)
	want := []result.Datapoint{{At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 51.2}}
	if !reflect.DeepEqual(ev.Datapoints, want) || ev.Breaching != 2 {
		t.Errorf("from the reason text: %v, breaching %d; want %v, 2", ev.Datapoints, ev.Breaching, want)
	}
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}

	a.Reason = "Greenlight test set this by hand"
	ev = Evidence(a, "BAKE_TIME", nil)
	if len(ev.Datapoints) != 0 || ev.Breaching != 0 {
		t.Errorf("unparseable reason gave %v, %d", ev.Datapoints, ev.Breaching)
	}
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate (threshold 5%) in ALARM during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestEvidenceComposite(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.loadFixture(t, "testdata/describe-alarms.json")
	found, _, _ := describe(context.Background(), cw, []string{"web-guard"})
	ev := Evidence(found["web-guard"], "BAKE_TIME", nil)
	if ev.Name != "web-guard" || ev.State != "ALARM" || ev.Metric != "" || len(ev.Datapoints) != 0 {
		t.Errorf("composite evidence = %+v", ev)
	}
	if s := ev.Summary(); !strings.HasPrefix(s, "web-guard: in ALARM (arn:aws:cloudwatch") || !strings.HasSuffix(s, "during BAKE_TIME") {
		t.Errorf("Summary() = %q", s)
	}
	// A composite alarm has no query: no GetMetricData call.
	if pts, err := series(context.Background(), cw, found["web-guard"], at(9, 0), at(10, 0)); err != nil || pts != nil || len(cw.dataInputs) != 0 {
		t.Errorf("series of a composite = %v, %v, %d calls", pts, err, len(cw.dataInputs))
	}
}

func TestParseReason(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name, reason, data string
		ok                 bool
		want               Quoted
	}{
		{
			name:   "m of n text",
			reason: "Threshold Crossed: 2 out of the last 3 datapoints [48.0 (20/11/26 10:04:00), 51.2 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).",
			ok:     true,
			want: Quoted{Breaching: 2, Of: 3, Threshold: f(5),
				Datapoints: []result.Datapoint{{At: at(10, 3), Value: 51.2}, {At: at(10, 4), Value: 48}}},
		},
		{
			name:   "single datapoint text",
			reason: "Threshold Crossed: 1 datapoint [1.0 (15/05/25 15:29:00)] was greater than the threshold (0.0).",
			ok:     true,
			want: Quoted{Breaching: 1, Of: 1, Threshold: f(0),
				Datapoints: []result.Datapoint{{At: time.Date(2025, 5, 15, 15, 29, 0, 0, time.UTC), Value: 1}}},
		},
		{
			name:   "return to OK",
			reason: "Threshold Crossed: 1 datapoint [0.0 (20/11/26 09:58:00)] was not greater than or equal to the threshold (10.0).",
			ok:     true,
			want:   Quoted{Breaching: 0, Of: 1, Threshold: f(10), Datapoints: []result.Datapoint{{At: at(9, 58), Value: 0}}},
		},
		{
			name:   "less than",
			reason: "Threshold Crossed: 1 out of the last 1 datapoints [3.4666088898518357 (23/04/24 20:44:00)] was less than or equal to the threshold (20.0) (minimum 1 datapoint for OK -> ALARM transition).",
			ok:     true,
			want: Quoted{Breaching: 1, Of: 1, Threshold: f(20),
				Datapoints: []result.Datapoint{{At: time.Date(2024, 4, 23, 20, 44, 0, 0, time.UTC), Value: 3.4666088898518357}}},
		},
		{
			name:   "reason data wins for datapoints, skips missing values",
			reason: "Threshold Crossed: 1 datapoint [1.0 (15/05/25 15:29:00)] was greater than the threshold (0.0).",
			data:   `{"version":"1.0","statistic":"Sum","period":60,"recentDatapoints":[1.0],"threshold":0.0,"evaluatedDatapoints":[{"timestamp":"2025-05-15T15:29:00.000+0000","sampleCount":1.0,"value":1.0},{"timestamp":"2025-05-15T15:28:00.000+0000"}]}`,
			ok:     true,
			want: Quoted{Breaching: 1, Of: 1, Threshold: f(0),
				Datapoints: []result.Datapoint{{At: time.Date(2025, 5, 15, 15, 29, 0, 0, time.UTC), Value: 1}}},
		},
		{name: "missing data", reason: "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [Breaching].", ok: false},
		{name: "set by hand", reason: "testing", ok: false},
		{name: "initial", reason: "Unchecked: Initial alarm creation", data: "{}", ok: false},
		{name: "garbage data", reason: "x", data: "{not json", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseReason(tt.reason, tt.data)
			if ok != tt.ok {
				t.Fatalf("ParseReason ok = %v, want %v (%+v)", ok, tt.ok, got)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReason = %+v\nwant         %+v", got, tt.want)
			}
		})
	}
}

func TestBreaching(t *testing.T) {
	pts := []result.Datapoint{{At: at(10, 0), Value: 9}, {At: at(10, 1), Value: 1}, {At: at(10, 2), Value: 7}, {At: at(10, 3), Value: 8}, {At: at(10, 4), Value: 0}}
	tests := []struct {
		name   string
		cmp    string
		thr    float64
		n      int
		cutoff time.Time
		want   int
	}{
		{"last 3, no cutoff", "GreaterThanThreshold", 5, 3, time.Time{}, 2},
		{"cutoff at 10:03", "GreaterThanThreshold", 5, 3, at(10, 3), 2},
		{"cutoff at 10:02", "GreaterThanThreshold", 5, 3, at(10, 2), 2},
		{"cutoff before all: falls back to the last", "GreaterThanThreshold", 5, 3, at(9, 0), 2},
		{"equal does not cross >", "GreaterThanThreshold", 8, 5, time.Time{}, 1},
		{"equal crosses >=", "GreaterThanOrEqualToThreshold", 8, 5, time.Time{}, 2},
		{"less than", "LessThanThreshold", 2, 5, time.Time{}, 2},
		{"less or equal", "LessThanOrEqualToThreshold", 1, 5, time.Time{}, 2},
		{"band comparison unknown", "LessThanLowerOrGreaterThanUpperThreshold", 1, 5, time.Time{}, 0},
		{"zero periods means one", "GreaterThanThreshold", 5, 0, time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Breaching(pts, tt.cmp, tt.thr, tt.n, tt.cutoff); got != tt.want {
				t.Errorf("Breaching(%s %v, n=%d, cutoff %v) = %d, want %d", tt.cmp, tt.thr, tt.n, tt.cutoff, got, tt.want)
			}
		})
	}
}

func TestTrimKeepsTheFiringDatapoints(t *testing.T) {
	var pts []result.Datapoint
	for i := 0; i < 300; i++ {
		pts = append(pts, result.Datapoint{At: at(8, 0).Add(time.Duration(i) * time.Minute), Value: float64(i)})
	}
	got := trim(pts, time.Time{}, 120)
	if len(got) != 120 || got[119].Value != 299 {
		t.Errorf("no cutoff: kept %d ending %v; want the last 120", len(got), got[len(got)-1].Value)
	}
	cutoff := at(8, 0).Add(50 * time.Minute)
	got = trim(pts, cutoff, 120)
	found := false
	for _, p := range got {
		found = found || p.At.Equal(cutoff)
	}
	if len(got) != 120 || !found {
		t.Errorf("cutoff at point 50: kept %d, includes it %v", len(got), found)
	}
	if got := trim(pts[:10], cutoff, 120); len(got) != 10 {
		t.Errorf("short series trimmed to %d", len(got))
	}
}

func TestWindows(t *testing.T) {
	a := Alarm{Period: 60, EvaluationPeriods: 3}
	now := at(10, 30)
	w := DeploymentWindow(a, at(10, 0), now)
	if !w.Start.Equal(at(9, 55)) || !w.End.Equal(now) {
		t.Errorf("DeploymentWindow = %v..%v, want 09:55..10:30", w.Start, w.End)
	}
	if w := DeploymentWindow(a, at(10, 25), now); !w.Start.Equal(at(10, 15)) {
		t.Errorf("short deployment: start %v, want at least 15 minutes back (10:15)", w.Start)
	}
	if w := DeploymentWindow(a, time.Time{}, now); !w.Start.Equal(at(10, 15)) {
		t.Errorf("unknown start: %v, want 10:15", w.Start)
	}
	if w := DeploymentWindow(a, now.Add(-72*time.Hour), now); now.Sub(w.Start) != 24*time.Hour {
		t.Errorf("3-day deployment: window %v, want capped at 24h", now.Sub(w.Start))
	}
	a.Since = at(10, 10)
	if w := FiringWindow(a, now); !w.Start.Equal(at(10, 5)) {
		t.Errorf("FiringWindow since 10:10 = %v, want 10:05", w.Start)
	}
	a.Since = at(10, 28)
	if w := FiringWindow(a, now); !w.Start.Equal(at(10, 15)) {
		t.Errorf("FiringWindow since 10:28 = %v, want 10:15", w.Start)
	}
	a.Since = now.Add(-48 * time.Hour)
	if w := FiringWindow(a, now); now.Sub(w.Start) != 3*time.Hour {
		t.Errorf("FiringWindow for a 2-day-old alarm = %v back, want 3h", now.Sub(w.Start))
	}
}

func TestSeriesError(t *testing.T) {
	cw := newFakeCloudWatch()
	cw.plain("web-5xx-count", 10, 1)
	cw.errData = errors.New("boom")
	found, _, _ := describe(context.Background(), cw, []string{"web-5xx-count"})
	if _, err := series(context.Background(), cw, found["web-5xx-count"], at(9, 0), at(10, 0)); err == nil || !strings.Contains(err.Error(), "web-5xx-count") {
		t.Errorf("series error = %v; want it to name the alarm", err)
	}
}
