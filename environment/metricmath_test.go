package environment_test

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A small evaluator for the CloudWatch metric-math subset the template uses (numbers,
// metric ids, + - * /, comparisons, FILL and IF), so the tests check what the alarm and the
// scaling policy compute rather than how their expressions are spelled.

// value is one datapoint; ok is false when the metric has no datapoint in the period
// (ALB 5xx counts are missing in minutes without 5xx).
type value struct {
	v  float64
	ok bool
}

func some(v float64) value { return value{v, true} }

var missing = value{}

// metricQuery is one entry of an alarm's or a scaling policy's Metrics list.
type metricQuery struct {
	id, expression string
	returnData     bool
}

// evalQueries evaluates the query with ReturnData true, given datapoints for the metric
// queries (absent from data: missing).
func evalQueries(qs []metricQuery, data map[string]value) (value, error) {
	byID := map[string]metricQuery{}
	var ret []string
	for _, q := range qs {
		byID[q.id] = q
		if q.returnData {
			ret = append(ret, q.id)
		}
	}
	if len(ret) != 1 {
		return missing, fmt.Errorf("want exactly one query with ReturnData true, got %v", ret)
	}
	var lookup func(id string, depth int) (value, error)
	lookup = func(id string, depth int) (value, error) {
		q, ok := byID[id]
		if !ok {
			return missing, fmt.Errorf("unknown metric id %q", id)
		}
		if q.expression == "" {
			return data[id], nil
		}
		if depth > len(byID) {
			return missing, fmt.Errorf("expression %q refers to itself", id)
		}
		return evalExpression(q.expression, func(id string) (value, error) { return lookup(id, depth+1) })
	}
	return lookup(ret[0], 0)
}

type parser struct {
	toks   []string
	pos    int
	lookup func(string) (value, error)
}

func evalExpression(expr string, lookup func(string) (value, error)) (value, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return missing, err
	}
	p := &parser{toks: toks, lookup: lookup}
	v, err := p.comparison()
	if err != nil {
		return missing, fmt.Errorf("%q: %w", expr, err)
	}
	if p.pos != len(p.toks) {
		return missing, fmt.Errorf("%q: unexpected %q", expr, p.toks[p.pos])
	}
	return v, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.') {
				j++
			}
			out, i = append(out, s[i:j]), j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			out, i = append(out, s[i:j]), j
		case strings.ContainsRune("<>=!", c) && i+1 < len(s) && s[i+1] == '=':
			out, i = append(out, s[i:i+2]), i+2
		case strings.ContainsRune("+-*/()<>,", c):
			out, i = append(out, string(c)), i+1
		default:
			return nil, fmt.Errorf("%q: unexpected character %q", s, c)
		}
	}
	return out, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(); p.pos++; return t }

func (p *parser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (p *parser) comparison() (value, error) {
	a, err := p.sum()
	if err != nil {
		return missing, err
	}
	op := p.peek()
	switch op {
	case ">=", ">", "<=", "<", "==", "!=":
	default:
		return a, nil
	}
	p.next()
	b, err := p.sum()
	if err != nil || !a.ok || !b.ok {
		return missing, err
	}
	r := map[string]bool{">=": a.v >= b.v, ">": a.v > b.v, "<=": a.v <= b.v, "<": a.v < b.v, "==": a.v == b.v, "!=": a.v != b.v}[op]
	if r {
		return some(1), nil
	}
	return some(0), nil
}

func (p *parser) sum() (value, error) {
	a, err := p.product()
	for err == nil && (p.peek() == "+" || p.peek() == "-") {
		op := p.next()
		var b value
		if b, err = p.product(); err == nil {
			a = arith(op, a, b)
		}
	}
	return a, err
}

func (p *parser) product() (value, error) {
	a, err := p.unary()
	for err == nil && (p.peek() == "*" || p.peek() == "/") {
		op := p.next()
		var b value
		if b, err = p.unary(); err == nil {
			a = arith(op, a, b)
		}
	}
	return a, err
}

func arith(op string, a, b value) value {
	if !a.ok || !b.ok {
		return missing
	}
	switch op {
	case "+":
		return some(a.v + b.v)
	case "-":
		return some(a.v - b.v)
	case "*":
		return some(a.v * b.v)
	}
	if b.v == 0 {
		return missing
	}
	return some(a.v / b.v)
}

func (p *parser) unary() (value, error) {
	if p.peek() == "-" {
		p.next()
		v, err := p.unary()
		return arith("-", some(0), v), err
	}
	return p.primary()
}

func (p *parser) primary() (value, error) {
	t := p.next()
	switch {
	case t == "(":
		v, err := p.comparison()
		if err != nil {
			return missing, err
		}
		return v, p.expect(")")
	case t != "" && (unicode.IsDigit(rune(t[0])) || t[0] == '.'):
		f, err := strconv.ParseFloat(t, 64)
		return some(f), err
	case t != "" && (unicode.IsLetter(rune(t[0])) || t[0] == '_'):
		if p.peek() != "(" {
			return p.lookup(t)
		}
		p.next()
		var args []value
		for {
			a, err := p.comparison()
			if err != nil {
				return missing, err
			}
			args = append(args, a)
			if p.peek() == "," {
				p.next()
				continue
			}
			if err := p.expect(")"); err != nil {
				return missing, err
			}
			break
		}
		return call(t, args)
	}
	return missing, fmt.Errorf("unexpected %q", t)
}

func call(fn string, args []value) (value, error) {
	switch fn {
	case "FILL":
		if len(args) != 2 || !args[1].ok {
			return missing, fmt.Errorf("FILL wants (metric, number)")
		}
		if args[0].ok {
			return args[0], nil
		}
		return args[1], nil
	case "IF":
		if len(args) != 3 {
			return missing, fmt.Errorf("IF wants (condition, then, else)")
		}
		if !args[0].ok {
			return missing, nil
		}
		if args[0].v != 0 {
			return args[1], nil
		}
		return args[2], nil
	}
	return missing, fmt.Errorf("function %s is not supported by this evaluator", fn)
}
