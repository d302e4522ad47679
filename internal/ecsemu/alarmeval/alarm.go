package alarmeval

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// State is a CloudWatch alarm state value.
type State string

// Alarm states.
const (
	OK               State = "OK"
	Alarm            State = "ALARM"
	InsufficientData State = "INSUFFICIENT_DATA"
)

// Metric names one metric: namespace, name and the full dimension set.
type Metric struct {
	Namespace  string
	Name       string
	Dimensions map[string]string
}

// Key is a canonical string for the metric (dimensions sorted by name).
func (m Metric) Key() string {
	names := make([]string, 0, len(m.Dimensions))
	for k := range m.Dimensions {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(m.Namespace + "|" + m.Name)
	for _, k := range names {
		b.WriteString("|" + k + "=" + m.Dimensions[k])
	}
	return b.String()
}

// Query is one entry of a metric-math alarm's Metrics: a MetricStat or an Expression.
type Query struct {
	ID         string
	Expression string
	Metric     *Metric
	Period     int // seconds, for MetricStat
	Stat       string
	ReturnData bool
}

// Definition is what evaluation needs from a MetricAlarm (DescribeAlarms).
type Definition struct {
	Name string
	// Single-metric form.
	Metric    *Metric
	Statistic string
	Period    int // seconds
	// Metric-math form.
	Queries []Query

	Threshold          float64
	ComparisonOperator string
	EvaluationPeriods  int
	DatapointsToAlarm  int    // 0 means EvaluationPeriods
	TreatMissingData   string // missing (default), notBreaching, breaching, ignore
}

// Data gives the published datapoints of a metric: bucket index → value (a sum).
type Data interface {
	Datapoints(m Metric) map[int64]float64
}

// MapData is Data held in a map keyed by Metric.Key().
type MapData map[string]map[int64]float64

// Datapoints implements Data.
func (d MapData) Datapoints(m Metric) map[int64]float64 { return d[m.Key()] }

// Add adds v to the metric's bucket.
func (d MapData) Add(m Metric, bucket int64, v float64) {
	k := m.Key()
	if d[k] == nil {
		d[k] = map[int64]float64{}
	}
	d[k][bucket] += v
}

// Result is an evaluation's outcome.
type Result struct {
	State State
	// Values are the alarm's datapoints over the evaluated periods, oldest first; NaN is a
	// missing datapoint.
	Values []float64
	// Breaching is how many of Values breached (missing ones counted per TreatMissingData).
	Breaching int
	Reason    string
	// ReasonData is the JSON CloudWatch puts in StateReasonData.
	ReasonData string
}

// Evaluate computes the alarm's state from data. newest is the newest complete bucket;
// bucketSeconds is the length of one bucket in (emulated) seconds, normally 60. current
// is the alarm's state now (kept when TreatMissingData is ignore and every datapoint is
// missing).
func Evaluate(def Definition, data Data, newest int64, bucketSeconds int, current State) (Result, error) {
	if bucketSeconds <= 0 {
		bucketSeconds = 60
	}
	m := def.EvaluationPeriods
	if m <= 0 {
		return Result{}, fmt.Errorf("alarm %s: EvaluationPeriods must be at least 1", def.Name)
	}
	n := def.DatapointsToAlarm
	if n <= 0 {
		n = m
	}
	if n > m {
		return Result{}, fmt.Errorf("alarm %s: DatapointsToAlarm %d exceeds EvaluationPeriods %d", def.Name, n, m)
	}
	cmp, err := comparator(def.ComparisonOperator)
	if err != nil {
		return Result{}, fmt.Errorf("alarm %s: %w", def.Name, err)
	}
	values, err := alarmSeries(def, data, newest, bucketSeconds, m)
	if err != nil {
		return Result{}, fmt.Errorf("alarm %s: %w", def.Name, err)
	}

	treat := def.TreatMissingData
	if treat == "" {
		treat = "missing"
	}
	breaching, present := 0, 0
	for _, v := range values {
		switch {
		case !math.IsNaN(v):
			present++
			if cmp.f(v, def.Threshold) {
				breaching++
			}
		case treat == "breaching":
			breaching++
		}
	}
	res := Result{Values: values, Breaching: breaching}
	switch {
	case breaching >= n:
		res.State = Alarm
	case present == 0 && treat == "missing":
		res.State = InsufficientData
	case present == 0 && treat == "ignore":
		res.State = current
		if res.State == "" {
			res.State = InsufficientData
		}
	default:
		res.State = OK
	}
	res.Reason = reason(res, def, cmp, n, m)
	res.ReasonData = reasonData(res, def)
	return res, nil
}

type comparison struct {
	f    func(v, t float64) bool
	text string
}

func comparator(op string) (comparison, error) {
	switch op {
	case "GreaterThanThreshold":
		return comparison{func(v, t float64) bool { return v > t }, "greater than"}, nil
	case "GreaterThanOrEqualToThreshold":
		return comparison{func(v, t float64) bool { return v >= t }, "greater than or equal to"}, nil
	case "LessThanThreshold":
		return comparison{func(v, t float64) bool { return v < t }, "less than"}, nil
	case "LessThanOrEqualToThreshold":
		return comparison{func(v, t float64) bool { return v <= t }, "less than or equal to"}, nil
	}
	return comparison{}, fmt.Errorf("ComparisonOperator %q is not supported by the emulator (anomaly-detection bands are not evaluated)", op)
}

// periodBuckets converts an alarm period to whole buckets (at least one).
func periodBuckets(period, bucketSeconds int) int64 {
	if period <= 0 {
		period = bucketSeconds
	}
	b := int64(math.Ceil(float64(period) / float64(bucketSeconds)))
	if b < 1 {
		b = 1
	}
	return b
}

// statOver computes stat over the buckets of one period; ok is false when none has data.
func statOver(points map[int64]float64, from, to int64, stat string) (float64, bool) {
	var xs []float64
	for b := from; b <= to; b++ {
		if v, ok := points[b]; ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	switch stat {
	case "", "Sum":
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s, true
	case "SampleCount":
		return float64(len(xs)), true
	case "Average":
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs)), true
	case "Minimum":
		r := xs[0]
		for _, x := range xs {
			r = math.Min(r, x)
		}
		return r, true
	case "Maximum":
		r := xs[0]
		for _, x := range xs {
			r = math.Max(r, x)
		}
		return r, true
	}
	return 0, false
}

func validStat(s string) bool {
	switch s {
	case "", "Sum", "SampleCount", "Average", "Minimum", "Maximum":
		return true
	}
	return false
}

// alarmSeries returns the alarm's m datapoints (oldest first, NaN for missing). Period i
// (0 = oldest) ends at bucket newest - (m-1-i)*pb.
func alarmSeries(def Definition, data Data, newest int64, bucketSeconds, m int) ([]float64, error) {
	out := make([]float64, m)
	if def.Metric != nil && len(def.Queries) == 0 {
		if !validStat(def.Statistic) {
			return nil, fmt.Errorf("statistic %q is not supported by the emulator (Sum, SampleCount, Average, Minimum, Maximum)", def.Statistic)
		}
		pb := periodBuckets(def.Period, bucketSeconds)
		points := data.Datapoints(*def.Metric)
		for i := 0; i < m; i++ {
			end := newest - int64(m-1-i)*pb
			if v, ok := statOver(points, end-pb+1, end, def.Statistic); ok {
				out[i] = v
			} else {
				out[i] = math.NaN()
			}
		}
		return out, nil
	}
	if len(def.Queries) == 0 {
		return nil, fmt.Errorf("neither a metric nor metric-math queries")
	}
	// Metric math: period indices 0..m-1 are the domain.
	domain := make([]int64, m)
	for i := range domain {
		domain[i] = int64(i)
	}
	vars := map[string]Series{}
	exprs := map[string]*Expr{}
	var ret []string
	for _, q := range def.Queries {
		if q.ReturnData {
			ret = append(ret, q.ID)
		}
		switch {
		case q.Metric != nil:
			if !validStat(q.Stat) {
				return nil, fmt.Errorf("query %s: stat %q is not supported by the emulator (Sum, SampleCount, Average, Minimum, Maximum)", q.ID, q.Stat)
			}
			pb := periodBuckets(q.Period, bucketSeconds)
			points := data.Datapoints(*q.Metric)
			s := Series{}
			for i := 0; i < m; i++ {
				end := newest - int64(m-1-i)*pb
				if v, ok := statOver(points, end-pb+1, end, q.Stat); ok {
					s[int64(i)] = v
				}
			}
			vars[q.ID] = s
		case q.Expression != "":
			e, err := Parse(q.Expression)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", q.ID, err)
			}
			exprs[q.ID] = e
		default:
			return nil, fmt.Errorf("query %s has neither MetricStat nor Expression", q.ID)
		}
	}
	if len(ret) != 1 {
		return nil, fmt.Errorf("exactly one query must have ReturnData true, found %d", len(ret))
	}
	// Evaluate expressions in dependency order.
	var resolve func(id string, depth int) error
	resolve = func(id string, depth int) error {
		if _, ok := vars[id]; ok {
			return nil
		}
		e, ok := exprs[id]
		if !ok {
			return fmt.Errorf("id %q is not defined by any query", id)
		}
		if depth > len(exprs) {
			return fmt.Errorf("expressions refer to each other in a cycle through %q", id)
		}
		for _, dep := range e.Idents() {
			if err := resolve(dep, depth+1); err != nil {
				return err
			}
		}
		s, err := e.Eval(vars, domain)
		if err != nil {
			return fmt.Errorf("query %s: %w", id, err)
		}
		vars[id] = s
		return nil
	}
	if err := resolve(ret[0], 0); err != nil {
		return nil, err
	}
	s := vars[ret[0]]
	for i := 0; i < m; i++ {
		if v, ok := s[int64(i)]; ok {
			out[i] = v
		} else {
			out[i] = math.NaN()
		}
	}
	return out, nil
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func reason(r Result, def Definition, cmp comparison, n, m int) string {
	var vals []string
	for _, v := range r.Values {
		if !math.IsNaN(v) {
			vals = append(vals, fmtNum(v))
		}
	}
	verb := "were"
	if r.Breaching == 1 {
		verb = "was"
	}
	switch r.State {
	case Alarm:
		return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s the threshold (%s) (minimum %d datapoints for OK -> ALARM transition).",
			r.Breaching, m, strings.Join(vals, ", "), verb, cmp.text, fmtNum(def.Threshold), n)
	case OK:
		return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s the threshold (%s) (minimum %d datapoints for ALARM -> OK transition).",
			m-r.Breaching, m, strings.Join(vals, ", "), "were not", cmp.text, fmtNum(def.Threshold), m-n+1)
	default:
		return fmt.Sprintf("Insufficient Data: %d datapoints were unknown.", m)
	}
}

func reasonData(r Result, def Definition) string {
	var recent []float64
	for _, v := range r.Values {
		if !math.IsNaN(v) {
			recent = append(recent, v)
		}
	}
	b, _ := json.Marshal(map[string]any{
		"version":          "1.0",
		"recentDatapoints": recent,
		"threshold":        def.Threshold,
		"evaluatedBy":      "greenlight ECS emulator",
	})
	return string(b)
}
