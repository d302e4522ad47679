// Package alb is the ECS emulator's Application Load Balancer: a weighted reverse proxy per
// listener rule (the production and the test rule of an ECS blue/green service), target
// groups with the ALB health-check state machine (initial → healthy/unhealthy after
// HealthyThreshold/UnhealthyThreshold consecutive checks at Interval), round-robin over
// healthy targets with the ALB's fail-open rule, connection draining on deregistration, and
// the counters CloudWatch publishes for an ALB (RequestCount and HTTPCode_Target_5XX_Count
// per target group, HTTPCode_ELB_5XX_Count per load balancer).
//
// It is part of the emulator (see docs/emulator.md) and knows nothing about ECS: the emulator
// registers task addresses as targets and rewrites listener weights the way ECS rewrites
// listener rules with elasticloadbalancing:ModifyRule.
//
// Every listener listens on 127.0.0.1 on a free port; Close stops them all.
package alb
