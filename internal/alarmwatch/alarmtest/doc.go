// Package alarmtest creates, in moto's CloudWatch, the alarms the alarm watch's tests
// watch: the recommended 5xx-rate alarm (metric math over both target groups) and a plain
// 5xx-count alarm, on one load balancer's dimensions. moto never evaluates alarms: a test
// sets their state itself (SetAlarmState) and puts the datapoints it wants the evidence to
// read.
package alarmtest
