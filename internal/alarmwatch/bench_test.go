package alarmwatch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

func benchAlarm() (Alarm, []result.Datapoint) {
	a := Alarm{Name: "web-5xx-rate", State: "ALARM", Since: at(11, 0), Metric: "5xx rate %", Comparison: "GreaterThanThreshold",
		Threshold: 5, Period: 60, EvaluationPeriods: 3, DatapointsToAlarm: 2,
		Reason: "Threshold Crossed: 2 out of the last 3 datapoints [51.2 (20/11/26 10:59:00), 48.0 (20/11/26 10:58:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition)."}
	var pts []result.Datapoint
	for i := 0; i < 24*60; i++ { // a day of one-minute datapoints: what the longest window returns
		pts = append(pts, result.Datapoint{At: at(0, 0).Add(time.Duration(i) * time.Minute), Value: float64(i%97) / 1.7})
	}
	return a, pts
}

// BenchmarkEvidence builds the evidence of one alarm from a day of datapoints and renders
// its summary line.
func BenchmarkEvidence(b *testing.B) {
	a, pts := benchAlarm()
	b.ReportAllocs()
	for b.Loop() {
		ev := Evidence(a, "BAKE_TIME", pts)
		_ = ev.Summary()
	}
}

// BenchmarkResultSize reports the JSON size of a REGRESSED result carrying the evidence of
// three alarms at MaxDatapoints each (SNS messages are limited to 256 KB).
func BenchmarkResultSize(b *testing.B) {
	a, pts := benchAlarm()
	var evs []result.AlarmEvidence
	for _, n := range []string{"web-5xx-rate", "web-5xx-count", "web-latency-p99"} {
		a.Name = n
		evs = append(evs, Evidence(a, "BAKE_TIME", pts))
	}
	r := result.Result{Version: 1, ID: "4f1c2a9e-8d7b-4c1e-9a55-0d2f7e6b1a3c/prod/web/regressed", Outcome: result.Regressed,
		Reason: &result.Reason{Kind: result.KindRegression, Summary: evs[0].Summary(), Evidence: &result.Evidence{Alarms: evs}}}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/result")
}
