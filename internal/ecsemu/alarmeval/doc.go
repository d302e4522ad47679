// Package alarmeval evaluates CloudWatch metric alarms the way CloudWatch does, for the ECS
// emulator: moto stores alarms and metric data but never evaluates an alarm, and its
// GetMetricData returns nothing for metric math.
//
// It covers single-metric alarms (Statistic, Period) and metric-math alarms (Metrics with
// MetricStat queries and expressions), with Threshold, ComparisonOperator,
// EvaluationPeriods, DatapointsToAlarm and TreatMissingData. The expression language is the
// part of CloudWatch metric math that greenlight's alarms use: numbers, metric ids,
// + - * / ^, comparisons (> >= < <= == !=), AND/&&, OR/||, NOT/!, parentheses, and the
// functions FILL(x, value|REPEAT), IF(cond, a[, b]), SUM, AVG, MIN, MAX (of a series or an
// array [a, b, …]) and ABS.
//
// Time is counted in base periods (buckets) of the emulator's metric period: a datapoint
// is the sum the emulator published for one bucket. Evaluation is a pure function of the
// alarm, the datapoints and the newest complete bucket.
package alarmeval
