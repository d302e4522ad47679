package cfnyaml

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// functions maps each short-form tag to its long form. !Ref and !Condition keep their
// names; every other tag becomes Fn::<name>.
var functions = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!And": "Fn::And", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!Equals": "Fn::Equals",
	"!FindInMap": "Fn::FindInMap", "!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs",
	"!If": "Fn::If", "!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join", "!Length": "Fn::Length",
	"!Not": "Fn::Not", "!Or": "Fn::Or", "!Select": "Fn::Select", "!Split": "Fn::Split",
	"!Sub": "Fn::Sub", "!ToJsonString": "Fn::ToJsonString", "!Transform": "Fn::Transform",
}

// ParseFile reads and parses a template file.
func ParseFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a YAML (or JSON) template into maps, slices, strings, ints, float64s, bools
// and nils, with every short-form tag in its long form.
func Parse(b []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("line %d: a template is a mapping, not %T", doc.Content[0].Line, v)
	}
	return m, nil
}

func convert(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return convert(n.Alias)
	}
	tag := n.Tag
	custom := strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
	if custom {
		fn, ok := functions[tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s (CloudFormation's short forms are %s)", n.Line, tag, knownTags())
		}
		inner := *n
		inner.Tag = ""
		if n.Kind == yaml.ScalarNode {
			inner.Tag = "!!str" // !Ref 80 names a parameter "80", it is not a number
		}
		v, err := convert(&inner)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && fn == "Fn::GetAtt" {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{fn: v}, nil
	}

	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be plain strings", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.Tag == "" {
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

func knownTags() string {
	tags := make([]string, 0, len(functions))
	for t := range functions {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return strings.Join(tags, " ")
}

// Lookup follows a dotted path through maps and slices ("Resources.Service.Properties.
// LoadBalancers.0.TargetGroupArn"). Keys that contain dots cannot be addressed this way;
// use At for those.
func Lookup(tree any, path string) (any, error) {
	return At(tree, strings.Split(path, ".")...)
}

// At follows keys (map keys, or slice indexes written as numbers) through the tree.
func At(tree any, keys ...string) (any, error) {
	cur := tree
	for i, k := range keys {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, fmt.Errorf("%s: no key %q", strings.Join(keys[:i], "."), k)
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(k)
			if err != nil || idx < 0 || idx >= len(c) {
				return nil, fmt.Errorf("%s: no item %q in a list of %d", strings.Join(keys[:i], "."), k, len(c))
			}
			cur = c[idx]
		default:
			return nil, fmt.Errorf("%s is a %T, not a mapping or list", strings.Join(keys[:i], "."), cur)
		}
	}
	return cur, nil
}
