package samtemplate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Values supplies what intrinsic functions resolve to.
type Values struct {
	// Parameters override the template's defaults.
	Parameters map[string]any
	// Pseudo holds AWS::Region, AWS::AccountId, AWS::StackName, AWS::Partition, AWS::URLSuffix.
	Pseudo map[string]string
	// Ref returns a resource's Ref value (its physical ID or ARN), and whether it is known.
	Ref func(logicalID string) (any, bool)
	// GetAtt returns a resource attribute, and whether it is known.
	GetAtt func(logicalID, attribute string) (any, bool)
}

// DefaultPseudo returns the pseudo parameters for an account, region and stack name.
func DefaultPseudo(account, region, stack string) map[string]string {
	return map[string]string{
		"AWS::AccountId": account, "AWS::Region": region, "AWS::StackName": stack,
		"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
	}
}

// noValue marks AWS::NoValue: the key or list item is dropped.
type noValue struct{}

// Resolve evaluates every intrinsic function in v.
func (t *Template) Resolve(v any, vals Values) (any, error) {
	out, err := t.resolve(v, vals)
	if _, ok := out.(noValue); ok {
		return nil, err
	}
	return out, err
}

func (t *Template) resolve(v any, vals Values) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return t.intrinsic(k, arg, vals)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := t.resolve(e, vals)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := t.resolve(e, vals)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (t *Template) intrinsic(fn string, arg any, vals Values) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return t.ref(name, vals)
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case []any:
			for _, p := range a {
				parts = append(parts, fmt.Sprint(p))
			}
		case string:
			parts = strings.SplitN(a, ".", 2)
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt %v: want [resource, attribute]", arg)
		}
		if vals.GetAtt != nil {
			if v, ok := vals.GetAtt(parts[0], parts[1]); ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no value supplied", parts[0], parts[1])
	case "Fn::Sub":
		return t.sub(arg, vals)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Join: want [delimiter, list]")
		}
		list, err := t.resolve(a[1], vals)
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join: the list resolved to %T", list)
		}
		s := make([]string, len(items))
		for i, it := range items {
			s[i] = scalar(it)
		}
		return strings.Join(s, fmt.Sprint(a[0])), nil
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else]")
		}
		c, err := t.Condition(fmt.Sprint(a[0]), vals)
		if err != nil {
			return nil, err
		}
		if c {
			return t.resolve(a[1], vals)
		}
		return t.resolve(a[2], vals)
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Select: want [index, list]")
		}
		idx, err := t.resolve(a[0], vals)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(scalar(idx))
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %v", idx)
		}
		list, err := t.resolve(a[1], vals)
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %d out of range", i)
		}
		return items[i], nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Split: want [delimiter, string]")
		}
		s, err := t.resolve(a[1], vals)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(scalar(s), fmt.Sprint(a[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		return t.evalCondition(map[string]any{fn: arg}, vals)
	}
	return nil, fmt.Errorf("intrinsic %s is not supported", fn)
}

func (t *Template) ref(name string, vals Values) (any, error) {
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		if v, ok := vals.Pseudo[name]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("Ref %s: pseudo parameter not supplied", name)
	}
	if p, ok := t.Parameters[name]; ok {
		v, given := vals.Parameters[name]
		if !given {
			v = p.Default
		}
		if v == nil {
			return nil, fmt.Errorf("Ref %s: parameter has no default and no value was supplied", name)
		}
		if strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList" {
			switch l := v.(type) {
			case []any:
				return l, nil
			case []string:
				out := make([]any, len(l))
				for i, s := range l {
					out[i] = s
				}
				return out, nil
			default:
				var out []any
				for _, s := range strings.Split(fmt.Sprint(v), ",") {
					out = append(out, strings.TrimSpace(s))
				}
				return out, nil
			}
		}
		return scalar(v), nil
	}
	if vals.Ref != nil {
		if v, ok := vals.Ref(name); ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("Ref %s: no value supplied", name)
}

func (t *Template) sub(arg any, vals Values) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub: want string or [string, map]")
		}
		tmpl = fmt.Sprint(a[0])
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			r, err := t.resolve(v, vals)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = r
		}
	default:
		return nil, fmt.Errorf("Fn::Sub: want string or [string, map]")
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '$' && i+1 < len(tmpl) && tmpl[i+1] == '{' {
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("Fn::Sub: unclosed ${ in %q", tmpl)
			}
			name := tmpl[i+2 : i+end]
			i += end
			if strings.HasPrefix(name, "!") { // ${!Literal}
				b.WriteString("${" + name[1:] + "}")
				continue
			}
			var v any
			var err error
			if x, ok := vars[name]; ok {
				v = x
			} else if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				v, err = t.intrinsic("Fn::GetAtt", []any{res, attr}, vals)
			} else {
				v, err = t.ref(name, vals)
			}
			if err != nil {
				return nil, err
			}
			b.WriteString(scalar(v))
			continue
		}
		b.WriteByte(tmpl[i])
	}
	return b.String(), nil
}

// Condition evaluates the named condition.
func (t *Template) Condition(name string, vals Values) (bool, error) {
	c, ok := t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not defined", name)
	}
	v, err := t.evalCondition(c, vals)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	return v, nil
}

func (t *Template) evalCondition(c any, vals Values) (bool, error) {
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition: %v", c)
	}
	for fn, arg := range m {
		a, _ := arg.([]any)
		switch fn {
		case "Condition":
			return t.Condition(fmt.Sprint(arg), vals)
		case "Fn::Equals":
			if len(a) != 2 {
				return false, fmt.Errorf("Fn::Equals: want two values")
			}
			x, err := t.resolve(a[0], vals)
			if err != nil {
				return false, err
			}
			y, err := t.resolve(a[1], vals)
			if err != nil {
				return false, err
			}
			return scalar(x) == scalar(y), nil
		case "Fn::Not":
			if len(a) != 1 {
				return false, fmt.Errorf("Fn::Not: want one condition")
			}
			v, err := t.evalCondition(a[0], vals)
			return !v, err
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, e := range a {
				v, err := t.evalCondition(e, vals)
				if err != nil {
					return false, err
				}
				if and && !v {
					return false, nil
				}
				if !and && v {
					return true, nil
				}
			}
			return and, nil
		}
		return false, fmt.Errorf("%s is not a condition function", fn)
	}
	return false, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = scalar(e)
		}
		return strings.Join(s, ",")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// sortedKeys is used by callers that want stable output.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
