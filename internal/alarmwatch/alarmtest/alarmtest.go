package alarmtest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Target groups of the load balancer: blue (web-a) and green (web-b).
const (
	TargetGroupA = "targetgroup/web-a/0123456789abcdef"
	TargetGroupB = "targetgroup/web-b/fedcba9876543210"
)

// Dimensions are the load balancer's and the blue target group's: the count alarm's, and
// where a test puts its 5xx datapoints.
var Dimensions = []cwtypes.Dimension{
	{Name: aws.String("LoadBalancer"), Value: aws.String("app/web/0123456789abcdef")},
	{Name: aws.String("TargetGroup"), Value: aws.String(TargetGroupA)},
}

// PutCountAlarm creates "HTTPCode_Target_5XX_Count Sum > 10 for 2 of 3 minutes" on
// Dimensions.
func PutCountAlarm(t testing.TB, cw *cloudwatch.Client, name string) {
	t.Helper()
	if _, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Dimensions: Dimensions, Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2),
		Threshold: aws.Float64(10), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
	}); err != nil {
		t.Fatal(err)
	}
}

// PutRateAlarm creates the recommended 5xx-rate alarm across both target groups
// (reference §6): metric math with FILL and IF, "5xx rate %" > 5 for 2 of 3 minutes.
func PutRateAlarm(t testing.TB, cw *cloudwatch.Client, name string) {
	t.Helper()
	stat := func(id, metric, tg string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{
			Period: aws.Int32(60), Stat: aws.String("Sum"), Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric),
				Dimensions: []cwtypes.Dimension{Dimensions[0], {Name: aws.String("TargetGroup"), Value: aws.String(tg)}}}}}
	}
	if _, err := cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2), Threshold: aws.Float64(5),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		Metrics: []cwtypes.MetricDataQuery{
			stat("e1", "HTTPCode_Target_5XX_Count", TargetGroupA),
			stat("e2", "HTTPCode_Target_5XX_Count", TargetGroupB),
			stat("r1", "RequestCount", TargetGroupA),
			stat("r2", "RequestCount", TargetGroupB),
			{Id: aws.String("err"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(e1,0) + FILL(e2,0)")},
			{Id: aws.String("req"), ReturnData: aws.Bool(false), Expression: aws.String("FILL(r1,0) + FILL(r2,0)")},
			{Id: aws.String("rate"), ReturnData: aws.Bool(true), Label: aws.String("5xx rate %"), Expression: aws.String("IF(req > 0, 100 * err / req, 0)")},
		},
	}); err != nil {
		t.Fatal(err)
	}
}
