package alarmwatch

import (
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// TestAlarmEvidenceSummary pins result.AlarmEvidence.Summary(), the first line of every
// alarm-related result.
func TestAlarmEvidenceSummary(t *testing.T) {
	fired := at(10, 5)
	rate := []result.Datapoint{{At: at(10, 2), Value: 1.5}, {At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 47.25}, {At: at(10, 6), Value: 0}}
	tests := []struct {
		name string
		ev   result.AlarmEvidence
		want string
	}{
		{
			name: "metric-math rate during bake",
			ev: result.AlarmEvidence{Name: "web-5xx-rate", State: "ALARM", StateSince: fired, Metric: "5xx rate %", Comparison: "GreaterThanThreshold",
				Threshold: 5, PeriodSeconds: 60, EvaluationPeriods: 3, DatapointsToAlarm: 2, Datapoints: rate, Breaching: 2, Stage: "BAKE_TIME"},
			want: "web-5xx-rate: 5xx rate 48% (threshold 5%) for 2 of 3 minutes during BAKE_TIME",
		},
		{
			name: "plain count alarm, 5-minute periods",
			ev: result.AlarmEvidence{Name: "web-5xx-count", State: "ALARM", StateSince: fired, Metric: "HTTPCode_Target_5XX_Count Sum", Comparison: "GreaterThanOrEqualToThreshold",
				Threshold: 10, PeriodSeconds: 300, EvaluationPeriods: 2, Datapoints: []result.Datapoint{{At: at(9, 55), Value: 12}, {At: at(10, 0), Value: 1234.56}}, Breaching: 2,
				Stage: "PRODUCTION_TRAFFIC_SHIFT"},
			want: "web-5xx-count: HTTPCode_Target_5XX_Count Sum 1235 (threshold >= 10) for 10 of 10 minutes during PRODUCTION_TRAFFIC_SHIFT",
		},
		{
			name: "high-resolution period in seconds",
			ev: result.AlarmEvidence{Name: "api-errors", State: "ALARM", Metric: "ErrorRate", Comparison: "GreaterThanThreshold",
				Threshold: 2.5, PeriodSeconds: 10, EvaluationPeriods: 3, Datapoints: []result.Datapoint{{At: at(10, 0), Value: 3.14159}}, Breaching: 1, Stage: "TEST_TRAFFIC_SHIFT"},
			want: "api-errors: ErrorRate 3.14% (threshold 2.5%) for 10 of 30 seconds during TEST_TRAFFIC_SHIFT",
		},
		{
			name: "single minute",
			ev: result.AlarmEvidence{Name: "a", State: "ALARM", Metric: "Latency p99", Comparison: "GreaterThanThreshold", Threshold: 0.5,
				PeriodSeconds: 60, EvaluationPeriods: 1, Datapoints: []result.Datapoint{{At: at(10, 0), Value: 0.0123}}, Breaching: 0},
			want: "a: Latency p99 0.0123 (threshold 0.5) for 0 of 1 minute",
		},
		{
			name: "less-than alarm shows the lowest value",
			ev: result.AlarmEvidence{Name: "healthy", State: "ALARM", Metric: "HealthyHostCount Minimum", Comparison: "LessThanThreshold", Threshold: 2,
				PeriodSeconds: 60, EvaluationPeriods: 2, Datapoints: []result.Datapoint{{At: at(10, 0), Value: 1}, {At: at(10, 1), Value: 0}}, Breaching: 2, Stage: "BAKE_TIME"},
			want: "healthy: HealthyHostCount Minimum 0 (threshold < 2) for 2 of 2 minutes during BAKE_TIME",
		},
		{
			name: "preflight: no stage, says since when",
			ev: result.AlarmEvidence{Name: "web-5xx-rate", State: "ALARM", StateSince: at(9, 41), Metric: "5xx rate %", Comparison: "GreaterThanThreshold",
				Threshold: 5, PeriodSeconds: 60, EvaluationPeriods: 3, Datapoints: []result.Datapoint{{At: at(9, 38), Value: 9}, {At: at(9, 39), Value: 12.5}, {At: at(9, 40), Value: 11}}, Breaching: 3},
			want: "web-5xx-rate: 5xx rate 12.5% (threshold 5%) for 3 of 3 minutes, in ALARM since 2026-11-20 09:41 UTC",
		},
		{
			name: "no datapoints at all",
			ev: result.AlarmEvidence{Name: "web-5xx-rate", State: "ALARM", Metric: "5xx rate %", Comparison: "GreaterThanThreshold",
				Threshold: 5, PeriodSeconds: 60, EvaluationPeriods: 3, Stage: "BAKE_TIME"},
			want: "web-5xx-rate: 5xx rate (threshold 5%) in ALARM during BAKE_TIME",
		},
		{
			name: "composite",
			ev:   result.AlarmEvidence{Name: "web-guard", State: "ALARM", StateReason: "arn:aws:cloudwatch:eu-west-1:1:alarm:web-5xx-rate transitioned to ALARM", Stage: "BAKE_TIME"},
			want: "web-guard: in ALARM (arn:aws:cloudwatch:eu-west-1:1:alarm:web-5xx-rate transitioned to ALARM) during BAKE_TIME",
		},
		{
			name: "name only (ECS triggered, CloudWatch unknown)",
			ev:   result.AlarmEvidence{Name: "gone", State: "ALARM", Stage: "BAKE_TIME"},
			want: "gone: in ALARM during BAKE_TIME",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.ev.Summary()
			if got != tt.want {
				t.Errorf("Summary() = %q\nwant        %q", got, tt.want)
			}
			if strings.ContainsAny(got, "\n\r") {
				t.Errorf("Summary() has a line break: %q", got)
			}
		})
	}
}

func TestAlarmEvidenceSummaryOneLine(t *testing.T) {
	ev := result.AlarmEvidence{Name: "c", State: "ALARM", StateReason: strings.Repeat("long reason\nwith lines ", 30), StateSince: time.Now()}
	s := ev.Summary()
	if strings.ContainsAny(s, "\n\r") || len(s) > 200 {
		t.Errorf("Summary() = %q (%d bytes); want one short line", s, len(s))
	}
}
