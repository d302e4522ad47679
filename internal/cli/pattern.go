package cli

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

// matchesPush reports whether an EventBridge event pattern matches a successful ECR push to
// repo. Only the fields an ECR push event is decided on are evaluated (source, detail-type,
// detail.action-type, detail.result, detail.repository-name); other pattern fields are
// returned in ignored. Operators it cannot evaluate give an error.
func matchesPush(pattern, repo string) (ok bool, ignored []string, err error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(pattern), &p); err != nil {
		return false, nil, fmt.Errorf("the event pattern is not JSON: %v", err)
	}
	event := map[string]any{
		"source": "aws.ecr", "detail-type": "ECR Image Action",
		"detail": map[string]any{"action-type": "PUSH", "result": "SUCCESS", "repository-name": repo},
	}
	known := map[string]bool{"source": true, "detail-type": true, "detail": true,
		"detail.action-type": true, "detail.result": true, "detail.repository-name": true}
	pruned := prune(p, "", known, &ignored)
	sort.Strings(ignored)
	ok, err = matchObject(pruned, event)
	return ok, ignored, err
}

func prune(p map[string]any, prefix string, known map[string]bool, ignored *[]string) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		if !known[full] {
			*ignored = append(*ignored, full)
			continue
		}
		if m, ok := v.(map[string]any); ok {
			out[k] = prune(m, full, known, ignored)
		} else {
			out[k] = v
		}
	}
	return out
}

func matchObject(p map[string]any, ev map[string]any) (bool, error) {
	for k, pv := range p {
		v, present := ev[k]
		switch x := pv.(type) {
		case map[string]any:
			sub, ok := v.(map[string]any)
			if !ok {
				return false, nil
			}
			m, err := matchObject(x, sub)
			if err != nil || !m {
				return m, err
			}
		case []any:
			m, err := matchList(x, v, present)
			if err != nil || !m {
				return m, err
			}
		default:
			return false, fmt.Errorf("pattern field %q must be an array or an object", k)
		}
	}
	return true, nil
}

func matchList(list []any, v any, present bool) (bool, error) {
	s, isStr := v.(string)
	for _, item := range list {
		switch it := item.(type) {
		case map[string]any:
			for op, arg := range it {
				m, err := matchOperator(op, arg, s, isStr, present)
				if err != nil {
					return false, err
				}
				if m {
					return true, nil
				}
			}
		default:
			if present && fmt.Sprint(it) == fmt.Sprint(v) {
				return true, nil
			}
		}
	}
	return false, nil
}

func matchOperator(op string, arg any, s string, isStr, present bool) (bool, error) {
	switch op {
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return false, fmt.Errorf("exists must be true or false")
		}
		return present == b, nil
	case "prefix", "suffix", "equals-ignore-case", "wildcard":
		var want string
		fold := false
		switch a := arg.(type) {
		case string:
			want = a
		case map[string]any:
			if w, ok := a["equals-ignore-case"].(string); ok {
				want, fold = w, true
			} else {
				return false, fmt.Errorf("%s: unsupported argument %v", op, a)
			}
		default:
			return false, fmt.Errorf("%s: unsupported argument %v", op, arg)
		}
		if !present || !isStr {
			return false, nil
		}
		subject := s
		if fold || op == "equals-ignore-case" {
			subject, want = strings.ToLower(subject), strings.ToLower(want)
		}
		switch op {
		case "prefix":
			return strings.HasPrefix(subject, want), nil
		case "suffix":
			return strings.HasSuffix(subject, want), nil
		case "equals-ignore-case":
			return subject == want, nil
		default:
			m, err := path.Match(strings.ReplaceAll(want, "/", "\x00"), strings.ReplaceAll(subject, "/", "\x00"))
			return m, err
		}
	case "anything-but":
		if !present {
			return false, nil
		}
		switch a := arg.(type) {
		case []any:
			for _, x := range a {
				if fmt.Sprint(x) == s {
					return false, nil
				}
			}
			return true, nil
		case map[string]any:
			m, err := matchList([]any{a}, s, present)
			return !m, err
		default:
			return fmt.Sprint(a) != s, nil
		}
	}
	return false, fmt.Errorf("pattern operator %q is not evaluated by verify", op)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
