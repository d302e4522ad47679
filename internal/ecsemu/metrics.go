package ecsemu

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu/alarmeval"
	"github.com/greenlight-deploy/greenlight/internal/ecsemu/alb"
)

// The load balancer's CloudWatch metrics (reference §6) and alarm evaluation (moto stores
// alarms but never evaluates them; local-toolchain §1.3).

const elbNamespace = "AWS/ApplicationELB"

// metricPeriod is the ALB's metric granularity: 60 s (reference §6), scaled.
const metricPeriod = 60 * time.Second

type metricStore struct {
	mu        sync.Mutex
	data      alarmeval.MapData
	last      map[string]alb.Counts
	prevState map[string]alarmeval.State
	warned    map[string]bool
}

func newMetricStore() *metricStore {
	return &metricStore{data: alarmeval.MapData{}, last: map[string]alb.Counts{}, prevState: map[string]alarmeval.State{}, warned: map[string]bool{}}
}

// MetricBucket is the index of the current metric period (one emulated minute) since the
// emulator started; datapoints of bucket k are published when it ends.
func (e *Emulator) MetricBucket() int64 {
	return int64(time.Since(e.start) / e.scale(metricPeriod))
}

func (e *Emulator) metricLoop() {
	defer e.wg.Done()
	period := e.scale(metricPeriod)
	k := int64(0)
	for {
		next := e.start.Add(time.Duration(k+1) * period)
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		e.publish(k)
		e.evaluateAlarms(k)
		// If publishing took longer than a period, skip to the newest complete one (the
		// counts of skipped periods land in it).
		k = max(k+1, e.MetricBucket()-1)
	}
}

// Datapoints returns what the emulator published for a metric (bucket → value), for tests
// and the rehearsal's evidence.
func (e *Emulator) Datapoints(m alarmeval.Metric) map[int64]float64 {
	e.metrics.mu.Lock()
	defer e.metrics.mu.Unlock()
	out := map[int64]float64{}
	for k, v := range e.metrics.data.Datapoints(m) {
		out[k] = v
	}
	return out
}

// publish turns the counters of the period that just ended into datapoints: RequestCount
// (only when there was traffic) and the 5xx counts (only when non-zero), per target group
// (dimensions LoadBalancer and TargetGroup) and per load balancer, as the ALB reports them.
func (e *Emulator) publish(k int64) {
	e.mu.Lock()
	bals := make(map[string]*alb.LoadBalancer, len(e.balancers))
	for n, b := range e.balancers {
		bals[n] = b
	}
	e.mu.Unlock()
	names := make([]string, 0, len(bals))
	for n := range bals {
		names = append(names, n)
	}
	sort.Strings(names)

	now := time.Now()
	var data []cwtypes.MetricDatum
	st := e.metrics
	st.mu.Lock()
	add := func(metric string, dims map[string]string, v int64) {
		if v <= 0 {
			return
		}
		st.data.Add(alarmeval.Metric{Namespace: elbNamespace, Name: metric, Dimensions: dims}, k, float64(v))
		var ds []cwtypes.Dimension
		keys := make([]string, 0, len(dims))
		for dk := range dims {
			keys = append(keys, dk)
		}
		sort.Strings(keys)
		for _, dk := range keys {
			ds = append(ds, cwtypes.Dimension{Name: aws.String(dk), Value: aws.String(dims[dk])})
		}
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String(metric), Dimensions: ds, Timestamp: aws.Time(now),
			Value: aws.Float64(float64(v)), Unit: cwtypes.StandardUnitCount})
	}
	for _, name := range names {
		c := bals[name].Counts()
		prev := st.last[name]
		st.last[name] = c
		lb := map[string]string{"LoadBalancer": name}
		add("RequestCount", lb, c.Requests-prev.Requests)
		add("HTTPCode_ELB_5XX_Count", lb, c.ELB5xx-prev.ELB5xx)
		add("HTTPCode_ELB_502_Count", lb, c.ELB502-prev.ELB502)
		add("HTTPCode_ELB_503_Count", lb, c.ELB503-prev.ELB503)
		add("HTTPCode_ELB_504_Count", lb, c.ELB504-prev.ELB504)
		var target5xx int64
		tgs := make([]string, 0, len(c.Groups))
		for tg := range c.Groups {
			tgs = append(tgs, tg)
		}
		sort.Strings(tgs)
		for _, tg := range tgs {
			g, pg := c.Groups[tg], prev.Groups[tg]
			dims := map[string]string{"LoadBalancer": name, "TargetGroup": tgFullName(tg)}
			add("RequestCount", dims, g.Requests-pg.Requests)
			add("HTTPCode_Target_2XX_Count", dims, g.Target2xx-pg.Target2xx)
			add("HTTPCode_Target_3XX_Count", dims, g.Target3xx-pg.Target3xx)
			add("HTTPCode_Target_4XX_Count", dims, g.Target4xx-pg.Target4xx)
			add("HTTPCode_Target_5XX_Count", dims, g.Target5xx-pg.Target5xx)
			add("TargetConnectionErrorCount", dims, g.ConnectionErrors-pg.ConnectionErrors)
			target5xx += g.Target5xx - pg.Target5xx
		}
		add("HTTPCode_Target_5XX_Count", lb, target5xx)
	}
	st.mu.Unlock()
	if e.cw == nil || len(data) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	for i := 0; i < len(data); i += 20 {
		chunk := data[i:min(i+20, len(data))]
		if _, err := e.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(elbNamespace), MetricData: chunk}); err != nil && e.ctx.Err() == nil {
			e.log.Warn("ecs emulator: PutMetricData failed", "error", err)
			return
		}
	}
}

// evaluateAlarms evaluates the alarms the emulator is responsible for (deployment alarms,
// Options.EvaluateAlarms, and alarms on its load balancers' metrics) and sets their state
// in CloudWatch when the evaluation changes it. An alarm set by hand keeps its state until
// the evaluation's own result changes.
func (e *Emulator) evaluateAlarms(k int64) {
	if e.cw == nil {
		return
	}
	e.mu.Lock()
	wanted := map[string]bool{}
	for _, n := range e.opts.EvaluateAlarms {
		wanted[n] = true
	}
	for _, s := range e.services {
		if s.cfg.Alarms != nil {
			for _, n := range s.cfg.Alarms.AlarmNames {
				wanted[n] = true
			}
		}
	}
	lbs := map[string]bool{}
	for n := range e.balancers {
		lbs[n] = true
	}
	e.mu.Unlock()
	if len(lbs) == 0 && len(wanted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	var alarms []cwtypes.MetricAlarm
	in := &cloudwatch.DescribeAlarmsInput{AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}}
	for {
		out, err := e.cw.DescribeAlarms(ctx, in)
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("ecs emulator: DescribeAlarms failed; alarms not evaluated this period", "error", err)
			}
			return
		}
		alarms = append(alarms, out.MetricAlarms...)
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	for _, a := range alarms {
		name := aws.ToString(a.AlarmName)
		if !wanted[name] && !referencesBalancer(a, lbs) {
			continue
		}
		def, err := alarmDefinition(a)
		st := e.metrics
		var res alarmeval.Result
		if err == nil {
			st.mu.Lock()
			res, err = alarmeval.Evaluate(def, st.data, k, 60, alarmeval.State(a.StateValue))
			st.mu.Unlock()
		}
		if err != nil {
			st.mu.Lock()
			warned := st.warned[name]
			st.warned[name] = true
			st.mu.Unlock()
			if !warned {
				e.log.Warn("ecs emulator: cannot evaluate alarm", "alarm", name, "error", err)
			}
			continue
		}
		current := alarmeval.State(a.StateValue)
		st.mu.Lock()
		prev, seen := st.prevState[name]
		st.prevState[name] = res.State
		st.mu.Unlock()
		write := res.State != prev
		if !seen {
			untouched := strings.HasPrefix(aws.ToString(a.StateReason), "Unchecked") || current == alarmeval.InsufficientData
			write = untouched && res.State != current
		}
		if !write || res.State == current {
			continue
		}
		_, err = e.cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
			AlarmName: aws.String(name), StateValue: cwtypes.StateValue(res.State),
			StateReason: aws.String(res.Reason), StateReasonData: aws.String(res.ReasonData),
		})
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("ecs emulator: SetAlarmState failed", "alarm", name, "error", err)
			}
			continue
		}
		e.log.Info("ecs emulator: alarm state set", "alarm", name, "from", current, "to", res.State, "reason", res.Reason)
		e.emit(Event{Kind: EventAlarm, Status: string(res.State), Message: fmt.Sprintf("alarm %s: %s -> %s (%s)", name, current, res.State, res.Reason)})
	}
}

func metricOf(m *cwtypes.Metric) *alarmeval.Metric {
	if m == nil {
		return nil
	}
	out := &alarmeval.Metric{Namespace: aws.ToString(m.Namespace), Name: aws.ToString(m.MetricName), Dimensions: map[string]string{}}
	for _, d := range m.Dimensions {
		out.Dimensions[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	return out
}

// alarmDefinition converts a MetricAlarm from DescribeAlarms.
func alarmDefinition(a cwtypes.MetricAlarm) (alarmeval.Definition, error) {
	def := alarmeval.Definition{
		Name:               aws.ToString(a.AlarmName),
		Threshold:          aws.ToFloat64(a.Threshold),
		ComparisonOperator: string(a.ComparisonOperator),
		EvaluationPeriods:  int(aws.ToInt32(a.EvaluationPeriods)),
		DatapointsToAlarm:  int(aws.ToInt32(a.DatapointsToAlarm)),
		TreatMissingData:   aws.ToString(a.TreatMissingData),
	}
	if len(a.Metrics) > 0 {
		for _, q := range a.Metrics {
			ret := q.ReturnData == nil || *q.ReturnData
			qq := alarmeval.Query{ID: aws.ToString(q.Id), Expression: aws.ToString(q.Expression), ReturnData: ret}
			if ms := q.MetricStat; ms != nil {
				qq.Metric = metricOf(ms.Metric)
				qq.Period = int(aws.ToInt32(ms.Period))
				qq.Stat = aws.ToString(ms.Stat)
			}
			def.Queries = append(def.Queries, qq)
		}
		return def, nil
	}
	if a.ExtendedStatistic != nil {
		return def, fmt.Errorf("extended statistic %s is not evaluated by the emulator", *a.ExtendedStatistic)
	}
	m := &alarmeval.Metric{Namespace: aws.ToString(a.Namespace), Name: aws.ToString(a.MetricName), Dimensions: map[string]string{}}
	for _, d := range a.Dimensions {
		m.Dimensions[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	def.Metric = m
	def.Statistic = string(a.Statistic)
	def.Period = int(aws.ToInt32(a.Period))
	return def, nil
}

// referencesBalancer reports whether the alarm reads a metric of an emulated load balancer.
func referencesBalancer(a cwtypes.MetricAlarm, lbs map[string]bool) bool {
	check := func(ns string, dims []cwtypes.Dimension) bool {
		if ns != elbNamespace {
			return false
		}
		for _, d := range dims {
			if aws.ToString(d.Name) == "LoadBalancer" && lbs[aws.ToString(d.Value)] {
				return true
			}
		}
		return false
	}
	if check(aws.ToString(a.Namespace), a.Dimensions) {
		return true
	}
	for _, q := range a.Metrics {
		if q.MetricStat != nil && q.MetricStat.Metric != nil && check(aws.ToString(q.MetricStat.Metric.Namespace), q.MetricStat.Metric.Dimensions) {
			return true
		}
	}
	return false
}
