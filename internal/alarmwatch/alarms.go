package alarmwatch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// cloudWatchAPI is the part of the CloudWatch client the watch uses.
type cloudWatchAPI interface {
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Alarm states as CloudWatch reports them.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// describeBatch is the most alarm names one DescribeAlarms call accepts.
const describeBatch = 100

// MaxDatapoints bounds the datapoints kept per alarm, so that a result stays far below
// SNS's 256 KB message limit.
const MaxDatapoints = 120

// Alarm is what greenlight needs from a metric or composite alarm.
type Alarm struct {
	Name      string
	Composite bool
	State     string
	Reason    string
	// ReasonData is CloudWatch's StateReasonData JSON (evaluated datapoints).
	ReasonData string
	// Since is when the alarm entered State (StateTransitionedTimestamp, or
	// StateUpdatedTimestamp where the former is absent, as in moto).
	Since time.Time

	// Metric describes what is compared: the expression's label (or the expression) for a
	// metric-math alarm, "MetricName Statistic" for a plain one.
	Metric            string
	Comparison        string
	Threshold         float64
	Period            int32
	EvaluationPeriods int32
	DatapointsToAlarm int32

	// queries are the MetricDataQueries that reproduce the alarm's series; returnID names
	// the one whose values the alarm compares.
	queries  []cwtypes.MetricDataQuery
	returnID string
}

// Firing reports whether the alarm is in ALARM.
func (a Alarm) Firing() bool { return a.State == StateAlarm }

// fromMetricAlarm flattens a metric alarm (plain or metric math).
func fromMetricAlarm(m cwtypes.MetricAlarm) Alarm {
	a := Alarm{
		Name:              aws.ToString(m.AlarmName),
		State:             string(m.StateValue),
		Reason:            aws.ToString(m.StateReason),
		ReasonData:        aws.ToString(m.StateReasonData),
		Since:             since(m.StateTransitionedTimestamp, m.StateUpdatedTimestamp),
		Comparison:        string(m.ComparisonOperator),
		Threshold:         aws.ToFloat64(m.Threshold),
		Period:            aws.ToInt32(m.Period),
		EvaluationPeriods: aws.ToInt32(m.EvaluationPeriods),
		DatapointsToAlarm: aws.ToInt32(m.DatapointsToAlarm),
	}
	if a.DatapointsToAlarm == 0 {
		a.DatapointsToAlarm = a.EvaluationPeriods
	}
	if len(m.Metrics) > 0 {
		a.queries = append([]cwtypes.MetricDataQuery(nil), m.Metrics...)
		ret := returnQuery(m.Metrics, aws.ToString(m.ThresholdMetricId))
		a.returnID = aws.ToString(ret.Id)
		switch {
		case ret.Expression != nil:
			a.Metric = firstNonEmpty(aws.ToString(ret.Label), aws.ToString(ret.Expression))
		case ret.MetricStat != nil:
			a.Metric = firstNonEmpty(aws.ToString(ret.Label), metricStatName(ret.MetricStat))
		}
		if a.Period == 0 {
			a.Period = queriesPeriod(m.Metrics, ret)
		}
		return a
	}
	stat := string(m.Statistic)
	if stat == "" {
		stat = aws.ToString(m.ExtendedStatistic)
	}
	a.Metric = strings.TrimSpace(aws.ToString(m.MetricName) + " " + stat)
	if m.MetricName != nil && a.Period > 0 && stat != "" {
		a.returnID = "m0"
		a.queries = []cwtypes.MetricDataQuery{{
			Id: aws.String("m0"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: m.Namespace, MetricName: m.MetricName, Dimensions: m.Dimensions},
				Period: aws.Int32(a.Period),
				Stat:   aws.String(stat),
				Unit:   m.Unit,
			},
			ReturnData: aws.Bool(true),
		}}
	}
	return a
}

// fromCompositeAlarm keeps a composite alarm's name and state: it has no metric of its own.
func fromCompositeAlarm(c cwtypes.CompositeAlarm) Alarm {
	return Alarm{
		Name:       aws.ToString(c.AlarmName),
		Composite:  true,
		State:      string(c.StateValue),
		Reason:     aws.ToString(c.StateReason),
		ReasonData: aws.ToString(c.StateReasonData),
		Since:      since(c.StateTransitionedTimestamp, c.StateUpdatedTimestamp),
	}
}

func since(transitioned, updated *time.Time) time.Time {
	if transitioned != nil && !transitioned.IsZero() {
		return transitioned.UTC()
	}
	if updated != nil {
		return updated.UTC()
	}
	return time.Time{}
}

// returnQuery is the query whose values the alarm compares: the one with ReturnData true
// that is not an anomaly band (ThresholdMetricId); CloudWatch treats a missing ReturnData
// as true.
func returnQuery(qs []cwtypes.MetricDataQuery, thresholdID string) cwtypes.MetricDataQuery {
	var implicit *cwtypes.MetricDataQuery
	for i := range qs {
		q := qs[i]
		if aws.ToString(q.Id) == thresholdID && thresholdID != "" {
			continue
		}
		if q.ReturnData != nil && *q.ReturnData {
			return q
		}
		if q.ReturnData == nil {
			implicit = &qs[i]
		}
	}
	if implicit != nil {
		return *implicit
	}
	return qs[len(qs)-1]
}

// queriesPeriod is the period of a metric-math alarm: the returned query's own period, or
// the longest period among its metric stats (CloudWatch requires them to match).
func queriesPeriod(qs []cwtypes.MetricDataQuery, ret cwtypes.MetricDataQuery) int32 {
	if p := aws.ToInt32(ret.Period); p > 0 {
		return p
	}
	if ret.MetricStat != nil && aws.ToInt32(ret.MetricStat.Period) > 0 {
		return aws.ToInt32(ret.MetricStat.Period)
	}
	var p int32
	for _, q := range qs {
		if q.MetricStat != nil && aws.ToInt32(q.MetricStat.Period) > p {
			p = aws.ToInt32(q.MetricStat.Period)
		}
		if aws.ToInt32(q.Period) > p {
			p = aws.ToInt32(q.Period)
		}
	}
	return p
}

func metricStatName(ms *cwtypes.MetricStat) string {
	name := ""
	if ms.Metric != nil {
		name = aws.ToString(ms.Metric.MetricName)
	}
	return strings.TrimSpace(name + " " + aws.ToString(ms.Stat))
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// describe reads the named alarms, metric and composite, in one call per 100 names. The
// map holds the alarms that exist; missing lists the names CloudWatch does not know, in
// the order given.
func describe(ctx context.Context, cw cloudWatchAPI, names []string) (map[string]Alarm, []string, error) {
	names = dedupe(names)
	found := make(map[string]Alarm, len(names))
	for start := 0; start < len(names); start += describeBatch {
		batch := names[start:min(start+describeBatch, len(names))]
		var token *string
		for {
			out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
				AlarmNames: batch,
				AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
				NextToken:  token,
			})
			if err != nil {
				return nil, nil, fmt.Errorf("describe alarms %s: %w", strings.Join(batch, ", "), err)
			}
			for _, m := range out.MetricAlarms {
				a := fromMetricAlarm(m)
				found[a.Name] = a
			}
			for _, c := range out.CompositeAlarms {
				a := fromCompositeAlarm(c)
				found[a.Name] = a
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			token = out.NextToken
		}
	}
	var missing []string
	for _, n := range names {
		if _, ok := found[n]; !ok {
			missing = append(missing, n)
		}
	}
	return found, missing, nil
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// series fetches the alarm's compared values over [start, end), oldest first. A composite
// alarm has none. An empty series is not an error (moto returns one for metric math).
func series(ctx context.Context, cw cloudWatchAPI, a Alarm, start, end time.Time) ([]result.Datapoint, error) {
	if a.Period > 0 {
		// CloudWatch aligns datapoints to period boundaries; so does the window.
		start = start.Truncate(time.Duration(a.Period) * time.Second)
	}
	if len(a.queries) == 0 || !end.After(start) {
		return nil, nil
	}
	var pts []result.Datapoint
	var token *string
	for {
		out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
			MetricDataQueries: a.queries,
			StartTime:         aws.Time(start),
			EndTime:           aws.Time(end),
			ScanBy:            cwtypes.ScanByTimestampAscending,
			NextToken:         token,
		})
		if err != nil {
			return nil, fmt.Errorf("get metric data for alarm %s: %w", a.Name, err)
		}
		for _, r := range out.MetricDataResults {
			if aws.ToString(r.Id) != a.returnID {
				continue
			}
			for i, ts := range r.Timestamps {
				if i < len(r.Values) {
					pts = append(pts, result.Datapoint{At: ts.UTC(), Value: r.Values[i]})
				}
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].At.Before(pts[j].At) })
	return pts, nil
}
