package alarmwatch

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// fakeCloudWatch answers DescribeAlarms from its alarms and GetMetricData from series
// keyed by query ID, and records what it was asked.
type fakeCloudWatch struct {
	mu        sync.Mutex
	metric    map[string]cwtypes.MetricAlarm
	composite map[string]cwtypes.CompositeAlarm
	series    map[string][]result.Datapoint // query ID → points
	errDesc   error
	errData   error

	describeCalls int
	dataInputs    []*cloudwatch.GetMetricDataInput
}

var _ cloudWatchAPI = (*fakeCloudWatch)(nil)

func newFakeCloudWatch() *fakeCloudWatch {
	return &fakeCloudWatch{metric: map[string]cwtypes.MetricAlarm{}, composite: map[string]cwtypes.CompositeAlarm{}, series: map[string][]result.Datapoint{}}
}

// loadFixture reads a DescribeAlarms output as the AWS CLI prints it.
func (f *fakeCloudWatch) loadFixture(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out cloudwatch.DescribeAlarmsOutput
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, m := range out.MetricAlarms {
		f.metric[aws.ToString(m.AlarmName)] = m
	}
	for _, c := range out.CompositeAlarms {
		f.composite[aws.ToString(c.AlarmName)] = c
	}
}

// setState changes an alarm's state as SetAlarmState would.
func (f *fakeCloudWatch) setState(name, state, reason string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.metric[name]; ok {
		m.StateValue, m.StateReason, m.StateReasonData = cwtypes.StateValue(state), aws.String(reason), nil
		m.StateUpdatedTimestamp, m.StateTransitionedTimestamp = aws.Time(at), aws.Time(at)
		f.metric[name] = m
		return
	}
	if c, ok := f.composite[name]; ok {
		c.StateValue, c.StateReason = cwtypes.StateValue(state), aws.String(reason)
		c.StateUpdatedTimestamp, c.StateTransitionedTimestamp = aws.Time(at), aws.Time(at)
		f.composite[name] = c
	}
}

// plain adds a plain metric alarm on HTTPCode_Target_5XX_Count.
func (f *fakeCloudWatch) plain(name string, threshold float64, evalPeriods int32) {
	f.metric[name] = cwtypes.MetricAlarm{
		AlarmName: aws.String(name), StateValue: cwtypes.StateValueOk, StateReason: aws.String("Unchecked: Initial alarm creation"),
		StateUpdatedTimestamp: aws.Time(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)),
		MetricName:            aws.String("HTTPCode_Target_5XX_Count"), Namespace: aws.String("AWS/ApplicationELB"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(evalPeriods),
		Threshold: aws.Float64(threshold), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String("app/web/1")}},
	}
}

func (f *fakeCloudWatch) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describeCalls++
	if f.errDesc != nil {
		return nil, f.errDesc
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	for _, n := range in.AlarmNames {
		if m, ok := f.metric[n]; ok {
			out.MetricAlarms = append(out.MetricAlarms, m)
		}
		if c, ok := f.composite[n]; ok {
			out.CompositeAlarms = append(out.CompositeAlarms, c)
		}
	}
	return out, nil
}

func (f *fakeCloudWatch) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dataInputs = append(f.dataInputs, in)
	if f.errData != nil {
		return nil, f.errData
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		r := cwtypes.MetricDataResult{Id: q.Id, Label: q.Label, StatusCode: cwtypes.StatusCodeComplete}
		for _, p := range f.series[aws.ToString(q.Id)] {
			if !p.At.Before(*in.StartTime) && p.At.Before(*in.EndTime) {
				r.Timestamps = append(r.Timestamps, p.At)
				r.Values = append(r.Values, p.Value)
			}
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	return out, nil
}

// fakeECS records StopServiceDeployment calls and answers with errs in turn (nil = OK).
type fakeECS struct {
	mu    sync.Mutex
	stops []string
	errs  []error
}

var _ ecsAPI = (*fakeECS)(nil)

func (f *fakeECS) StopServiceDeployment(_ context.Context, in *ecs.StopServiceDeploymentInput, _ ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.StopType != "ROLLBACK" {
		return nil, errors.New("fake ECS: StopType must be ROLLBACK, got " + string(in.StopType))
	}
	f.stops = append(f.stops, aws.ToString(in.ServiceDeploymentArn))
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return nil, err
		}
	}
	return &ecs.StopServiceDeploymentOutput{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}

// fakeLedger keeps stop claims, a history (newest first) and a lock in memory.
type fakeLedger struct {
	mu        sync.Mutex
	stops     map[string]string
	unclaims  int
	history   []result.Result
	lock      *ledger.Holder
	claimErr  error
	lastGoodQ []string // excludeDigest of each LastGood call
}

var _ ledgerAPI = (*fakeLedger)(nil)

func newFakeLedger() *fakeLedger { return &fakeLedger{stops: map[string]string{}} }

func (l *fakeLedger) ClaimStop(_ context.Context, arn, by string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.claimErr != nil {
		return false, l.claimErr
	}
	if _, ok := l.stops[arn]; ok {
		return false, nil
	}
	l.stops[arn] = by
	return true, nil
}

func (l *fakeLedger) UnclaimStop(_ context.Context, arn string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unclaims++
	delete(l.stops, arn)
	return nil
}

func (l *fakeLedger) LastGood(_ context.Context, _ string, exclude string) (*result.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastGoodQ = append(l.lastGoodQ, exclude)
	return ledger.LastGood(l.history, exclude), nil
}

func (l *fakeLedger) History(_ context.Context, _ string, limit int) ([]result.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit > len(l.history) {
		limit = len(l.history)
	}
	return append([]result.Result(nil), l.history[:limit]...), nil
}

func (l *fakeLedger) Lock(context.Context, string) (*ledger.Holder, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lock, nil
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
