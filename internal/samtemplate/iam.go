package samtemplate

import (
	"fmt"
	"path"
	"strings"
)

// Statement is one IAM policy statement with Action and Resource normalized to lists
// (Resource items stay unresolved intrinsics when they are not plain strings).
type Statement struct {
	Policy    string
	Sid       string
	Effect    string
	Actions   []string
	Resources []any
	Condition map[string]any
}

// RoleStatements returns the inline policy statements of an AWS::IAM::Role and its managed
// policy ARNs (unresolved).
func (t *Template) RoleStatements(roleID string) ([]Statement, []any, error) {
	r, ok := t.Resources[roleID]
	if !ok || r.Type != "AWS::IAM::Role" {
		return nil, nil, fmt.Errorf("%s is not an IAM role in the template", roleID)
	}
	var out []Statement
	pols, _ := r.Properties["Policies"].([]any)
	for _, p := range pols {
		pm, _ := p.(map[string]any)
		doc, _ := pm["PolicyDocument"].(map[string]any)
		name := fmt.Sprint(pm["PolicyName"])
		for _, s := range asList(doc["Statement"]) {
			sm, _ := s.(map[string]any)
			st := Statement{Policy: name, Effect: fmt.Sprint(sm["Effect"])}
			if sid, ok := sm["Sid"].(string); ok {
				st.Sid = sid
			}
			for _, a := range asList(sm["Action"]) {
				st.Actions = append(st.Actions, fmt.Sprint(a))
			}
			st.Resources = asList(sm["Resource"])
			st.Condition, _ = sm["Condition"].(map[string]any)
			out = append(out, st)
		}
	}
	return out, asList(r.Properties["ManagedPolicyArns"]), nil
}

// FunctionRole returns the logical ID of a function's execution role.
func (t *Template) FunctionRole(fnID string) string {
	role, _ := t.Resources[fnID].Properties["Role"].(map[string]any)
	ga, _ := role["Fn::GetAtt"].([]any)
	if len(ga) == 2 {
		return fmt.Sprint(ga[0])
	}
	return ""
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// ActionMatches reports whether an IAM action pattern (with * and ? wildcards, case
// insensitive) matches action.
func ActionMatches(pattern, action string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return ok
}

// Allows reports whether some Allow statement names the action (resources not considered).
func Allows(stmts []Statement, action string) bool {
	for _, s := range stmts {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Actions {
			if ActionMatches(a, action) {
				return true
			}
		}
	}
	return false
}

// HasStarResource reports whether a statement's resources include "*" (possibly inside an
// Fn::If branch).
func HasStarResource(s Statement) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return x == "*"
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			if ifv, ok := x["Fn::If"].([]any); ok && len(ifv) == 3 {
				return walk(ifv[1]) || walk(ifv[2])
			}
		}
		return false
	}
	for _, r := range s.Resources {
		if walk(r) {
			return true
		}
	}
	return false
}

// Mutating reports whether an ECS or IAM action changes something (anything but Describe*,
// List* and Get*).
func Mutating(action string) bool {
	svc, op, _ := strings.Cut(action, ":")
	if svc != "ecs" && svc != "iam" {
		return false
	}
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return true
}
