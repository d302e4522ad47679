// Package environment holds greenlight's demo environment as CloudFormation
// (template.yaml): the hand-run guide's network, load balancer, ECR repository, cluster,
// ECS service with native blue/green, 5xx-rate alarm, auto scaling and CI push roles, and
// deploy.sh, which deploys it without undoing greenlight's deployments.
//
// The package has no Go code of its own; its tests check the template's wiring (listener
// rules and weights, health checks, the alarm's metric math, the hook, bake time, scaling
// policies, the first-deployment conditions), run cfn-lint over it, and check deploy.sh
// and the CI examples against it. docs/walkthrough.md explains how to use all of it.
package environment
