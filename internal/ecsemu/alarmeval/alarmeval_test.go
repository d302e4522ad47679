package alarmeval

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestExpressions(t *testing.T) {
	vars := map[string]Series{
		"e1": {0: 1, 2: 4},
		"e2": {0: 1, 1: 2},
		"r1": {0: 10, 1: 10, 2: 20},
		"r2": {1: 30},
		"z":  {0: 0, 1: 5},
	}
	domain := []int64{0, 1, 2}
	for _, tc := range []struct {
		expr string
		want Series
	}{
		{"e1 + e2", Series{0: 2}},
		{"FILL(e1,0) + FILL(e2,0)", Series{0: 2, 1: 2, 2: 4}},
		{"FILL(r1, 0) + FILL(r2, 0)", Series{0: 10, 1: 40, 2: 20}},
		{"IF(r1 > 10, 1, 0)", Series{0: 0, 1: 0, 2: 1}},
		{"IF(z > 0, 100 * r1 / z, 0)", Series{0: 0, 1: 200}},
		{"100 * r1 / z", Series{1: 200}}, // x/0 has no datapoint
		{"IF(r1 >= 20, r1)", Series{2: 20}},
		{"2 ^ 3 - -1", Series{0: 9, 1: 9, 2: 9}},
		{"(e2 == 1) OR (e2 == 2)", Series{0: 1, 1: 1}},
		{"e2 == 1 && r1 < 15", Series{0: 1, 1: 0}},
		{"NOT z", Series{0: 1, 1: 0}},
		{"SUM([FILL(e1,0), FILL(e2,0)])", Series{0: 2, 1: 2, 2: 4}},
		{"MAX([r1, r2])", Series{0: 10, 1: 30, 2: 20}},
		{"SUM(r1)", Series{0: 40, 1: 40, 2: 40}},
		{"FILL(e1, REPEAT)", Series{0: 1, 1: 1, 2: 4}},
		{"ABS(0 - r1)", Series{0: 10, 1: 10, 2: 20}},
	} {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		got, err := e.Eval(vars, domain)
		if err != nil {
			t.Errorf("Eval(%q): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Eval(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"e1 +", "unexpected end"},
		{"e1 $ 2", "unexpected character"},
		{"FOO(e1)", "not supported"},
		{"IF(e1)", "IF takes 2 or 3"},
		{"nope + 1", `unknown id "nope"`},
		{"(e1", `expected ")"`},
		{"[e1, e1] + 1", "array"},
	} {
		e, err := Parse(tc.expr)
		if err == nil {
			_, err = e.Eval(map[string]Series{"e1": {0: 1}}, []int64{0})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
}

func elb(name, tg string) *Metric {
	d := map[string]string{"LoadBalancer": "app/web/1"}
	if tg != "" {
		d["TargetGroup"] = tg
	}
	return &Metric{Namespace: "AWS/ApplicationELB", Name: name, Dimensions: d}
}

// rateAlarm is the two-target-group 5xx-rate alarm of reference/ecs-bluegreen.md §6.
func rateAlarm() Definition {
	return Definition{
		Name: "web-5xx-rate", ComparisonOperator: "GreaterThanThreshold", Threshold: 5,
		EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: "notBreaching",
		Queries: []Query{
			{ID: "e1", Metric: elb("HTTPCode_Target_5XX_Count", "targetgroup/a/1"), Period: 60, Stat: "Sum"},
			{ID: "e2", Metric: elb("HTTPCode_Target_5XX_Count", "targetgroup/b/2"), Period: 60, Stat: "Sum"},
			{ID: "r1", Metric: elb("RequestCount", "targetgroup/a/1"), Period: 60, Stat: "Sum"},
			{ID: "r2", Metric: elb("RequestCount", "targetgroup/b/2"), Period: 60, Stat: "Sum"},
			{ID: "err", Expression: "FILL(e1,0) + FILL(e2,0)"},
			{ID: "req", Expression: "FILL(r1,0) + FILL(r2,0)"},
			{ID: "rate", Expression: "IF(req > 0, 100 * err / req, 0)", ReturnData: true},
		},
	}
}

func TestEvaluate(t *testing.T) {
	put := func(d MapData, name, tg string, pts map[int64]float64) {
		for b, v := range pts {
			d.Add(*elb(name, tg), b, v)
		}
	}
	type pts = map[int64]float64
	for _, tc := range []struct {
		name   string
		def    Definition
		data   func(MapData)
		newest int64
		cur    State
		want   State
		values []float64
	}{
		{
			name: "rate alarm, no traffic: notBreaching gives OK",
			def:  rateAlarm(), data: func(MapData) {}, newest: 10, want: OK, values: []float64{0, 0, 0},
		},
		{
			name: "rate alarm, 2 of 3 periods over 5% across both groups",
			def:  rateAlarm(),
			data: func(d MapData) {
				put(d, "RequestCount", "targetgroup/a/1", pts{8: 100, 9: 50})
				put(d, "RequestCount", "targetgroup/b/2", pts{9: 50, 10: 100})
				put(d, "HTTPCode_Target_5XX_Count", "targetgroup/b/2", pts{9: 10, 10: 50})
			},
			newest: 10, want: Alarm, values: []float64{0, 10, 50},
		},
		{
			name: "rate alarm, one breaching period is not enough",
			def:  rateAlarm(),
			data: func(d MapData) {
				put(d, "RequestCount", "targetgroup/a/1", pts{8: 100, 9: 100, 10: 100})
				put(d, "HTTPCode_Target_5XX_Count", "targetgroup/a/1", pts{10: 100})
			},
			newest: 10, want: OK, values: []float64{0, 0, 100},
		},
		{
			name: "single metric Sum over 2-bucket periods",
			def: Definition{Name: "s", Metric: elb("HTTPCode_Target_5XX_Count", "targetgroup/a/1"), Statistic: "Sum", Period: 120,
				ComparisonOperator: "GreaterThanOrEqualToThreshold", Threshold: 3, EvaluationPeriods: 1},
			data:   func(d MapData) { put(d, "HTTPCode_Target_5XX_Count", "targetgroup/a/1", pts{9: 1, 10: 2}) },
			newest: 10, want: Alarm, values: []float64{3},
		},
		{
			name: "single metric, missing data (default) is INSUFFICIENT_DATA",
			def: Definition{Name: "s", Metric: elb("HTTPCode_Target_5XX_Count", "targetgroup/a/1"), Statistic: "Sum", Period: 60,
				ComparisonOperator: "GreaterThanThreshold", Threshold: 0, EvaluationPeriods: 2},
			data: func(MapData) {}, newest: 10, want: InsufficientData,
		},
		{
			name: "missing treated as breaching",
			def: Definition{Name: "s", Metric: elb("RequestCount", "targetgroup/a/1"), Statistic: "Sum", Period: 60,
				ComparisonOperator: "LessThanThreshold", Threshold: 1, EvaluationPeriods: 2, TreatMissingData: "breaching"},
			data: func(MapData) {}, newest: 10, want: Alarm,
		},
		{
			name: "ignore keeps the current state",
			def: Definition{Name: "s", Metric: elb("RequestCount", "targetgroup/a/1"), Statistic: "Sum", Period: 60,
				ComparisonOperator: "LessThanThreshold", Threshold: 1, EvaluationPeriods: 2, TreatMissingData: "ignore"},
			data: func(MapData) {}, newest: 10, cur: Alarm, want: Alarm,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := MapData{}
			tc.data(d)
			got, err := Evaluate(tc.def, d, tc.newest, 60, tc.cur)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want {
				t.Errorf("Evaluate = %s (%s), want %s", got.State, got.Reason, tc.want)
			}
			if tc.values != nil && !equalNaN(got.Values, tc.values) {
				t.Errorf("values = %v, want %v", got.Values, tc.values)
			}
			if got.Reason == "" || got.ReasonData == "" {
				t.Errorf("empty reason %q / data %q", got.Reason, got.ReasonData)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	bad := rateAlarm()
	bad.Queries[6].ReturnData = false
	if _, err := Evaluate(bad, MapData{}, 1, 60, ""); err == nil || !strings.Contains(err.Error(), "ReturnData") {
		t.Errorf("no ReturnData: %v", err)
	}
	cyc := Definition{Name: "c", ComparisonOperator: "GreaterThanThreshold", EvaluationPeriods: 1, Queries: []Query{
		{ID: "a", Expression: "b + 1", ReturnData: true}, {ID: "b", Expression: "a + 1"}}}
	if _, err := Evaluate(cyc, MapData{}, 1, 60, ""); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	op := rateAlarm()
	op.ComparisonOperator = "GreaterThanUpperThreshold"
	if _, err := Evaluate(op, MapData{}, 1, 60, ""); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("anomaly operator: %v", err)
	}
}

func equalNaN(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}
