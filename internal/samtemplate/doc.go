// Package samtemplate reads greenlight's SAM template the way CloudFormation will see it:
// Translate runs the offline SAM transform (the installed aws-sam-translator, through an
// embedded script) and Load parses the translated JSON. Intrinsic functions (Ref, Fn::GetAtt,
// Fn::Sub, Fn::Join, Fn::If, Fn::Select, Fn::Split and conditions) are resolved against
// caller-supplied Values, so a local rehearsal can create the stack's resources from
// template.yaml itself: the state machine definition with its substitutions rendered
// (StateMachineDefinition), the EventBridge rule pattern (RulePattern), function environments
// (FunctionEnvironment) and any resource's properties (ResolvedProperties).
//
// The package's tests assert the stack's wiring and IAM over the translated template.
//
// Example (a rehearsal creating resources locally):
//
//	t, err := samtemplate.Load(ctx, "template.yaml")
//	vals := samtemplate.Values{
//		Parameters: map[string]any{"Repository": "web", "ClusterName": "demo", …},
//		Pseudo:     samtemplate.DefaultPseudo("123456789012", "us-east-1", "greenlight"),
//		Ref:        func(id string) (any, bool) { return physicalID[id], physicalID[id] != "" },
//		GetAtt:     func(id, attr string) (any, bool) { return arns[id], arns[id] != "" },
//	}
//	asl, err := t.StateMachineDefinition("DeployStateMachine", vals)
//	pattern, err := t.RulePattern("DeployStateMachineEcrPush", vals)
//	env, err := t.FunctionEnvironment("StartFunction", vals)
package samtemplate
