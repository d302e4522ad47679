package alarmeval

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Series is a time series: period index → value. A missing index is a missing datapoint.
type Series map[int64]float64

// value is a scalar, a series or an array of values ([a, b]).
type value struct {
	kind   int // scalarKind, seriesKind, arrayKind
	scalar float64
	series Series
	array  []value
}

const (
	scalarKind = iota
	seriesKind
	arrayKind
)

func scalar(f float64) value  { return value{kind: scalarKind, scalar: f} }
func series(s Series) value   { return value{kind: seriesKind, series: s} }
func arrayOf(v []value) value { return value{kind: arrayKind, array: v} }

// Expr is a parsed metric-math expression.
type Expr struct {
	src  string
	root node
}

// String is the source text.
func (e *Expr) String() string { return e.src }

// Idents lists the identifiers (metric or expression ids) the expression refers to.
func (e *Expr) Idents() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case identNode:
			if !seen[string(n)] {
				seen[string(n)] = true
				out = append(out, string(n))
			}
		case binNode:
			walk(n.l)
			walk(n.r)
		case unNode:
			walk(n.x)
		case callNode:
			for _, a := range n.args {
				walk(a)
			}
		case arrNode:
			for _, a := range n {
				walk(a)
			}
		}
	}
	walk(e.root)
	return out
}

// Eval evaluates the expression over the period indices in domain (oldest first), with
// vars giving the series of each id. A scalar result is broadcast over domain.
func (e *Expr) Eval(vars map[string]Series, domain []int64) (Series, error) {
	v, err := e.root.eval(&env{vars: vars, domain: domain})
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", e.src, err)
	}
	switch v.kind {
	case scalarKind:
		out := Series{}
		for _, t := range domain {
			out[t] = v.scalar
		}
		return out, nil
	case seriesKind:
		return v.series, nil
	default:
		return nil, fmt.Errorf("expression %q returns an array; an alarm needs one time series", e.src)
	}
}

type env struct {
	vars   map[string]Series
	domain []int64
}

type node interface {
	eval(*env) (value, error)
}

type numNode float64
type identNode string
type binNode struct {
	op   string
	l, r node
}
type unNode struct {
	op string
	x  node
}
type callNode struct {
	fn   string
	args []node
}
type arrNode []node
type keywordNode string // REPEAT, LINEAR inside FILL

func (n numNode) eval(*env) (value, error) { return scalar(float64(n)), nil }

func (n keywordNode) eval(*env) (value, error) {
	return value{}, fmt.Errorf("%s is only valid as FILL's second argument", string(n))
}

func (n identNode) eval(e *env) (value, error) {
	s, ok := e.vars[string(n)]
	if !ok {
		return value{}, fmt.Errorf("unknown id %q: it must be the Id of another query of the alarm", string(n))
	}
	return series(s), nil
}

func (n arrNode) eval(e *env) (value, error) {
	out := make([]value, 0, len(n))
	for _, x := range n {
		v, err := x.eval(e)
		if err != nil {
			return value{}, err
		}
		out = append(out, v)
	}
	return arrayOf(out), nil
}

func (n unNode) eval(e *env) (value, error) {
	v, err := n.x.eval(e)
	if err != nil {
		return value{}, err
	}
	f := func(x float64) (float64, bool) { return -x, true }
	if n.op == "NOT" {
		f = func(x float64) (float64, bool) { return b2f(x == 0), true }
	}
	return mapValue(v, f)
}

func mapValue(v value, f func(float64) (float64, bool)) (value, error) {
	switch v.kind {
	case scalarKind:
		r, ok := f(v.scalar)
		if !ok {
			return value{}, fmt.Errorf("undefined result")
		}
		return scalar(r), nil
	case seriesKind:
		out := Series{}
		for t, x := range v.series {
			if r, ok := f(x); ok {
				out[t] = r
			}
		}
		return series(out), nil
	default:
		out := make([]value, 0, len(v.array))
		for _, x := range v.array {
			r, err := mapValue(x, f)
			if err != nil {
				return value{}, err
			}
			out = append(out, r)
		}
		return arrayOf(out), nil
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// apply computes op at one point; ok is false when the point has no value (x/0).
func apply(op string, a, b float64) (float64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		if b == 0 {
			return 0, false
		}
		return a / b, true
	case "^":
		r := math.Pow(a, b)
		return r, !math.IsNaN(r) && !math.IsInf(r, 0)
	case ">":
		return b2f(a > b), true
	case ">=":
		return b2f(a >= b), true
	case "<":
		return b2f(a < b), true
	case "<=":
		return b2f(a <= b), true
	case "==":
		return b2f(a == b), true
	case "!=":
		return b2f(a != b), true
	case "AND":
		return b2f(a != 0 && b != 0), true
	case "OR":
		return b2f(a != 0 || b != 0), true
	}
	return 0, false
}

func (n binNode) eval(e *env) (value, error) {
	l, err := n.l.eval(e)
	if err != nil {
		return value{}, err
	}
	r, err := n.r.eval(e)
	if err != nil {
		return value{}, err
	}
	return combine(n.op, l, r)
}

func combine(op string, l, r value) (value, error) {
	switch {
	case l.kind == arrayKind || r.kind == arrayKind:
		return value{}, fmt.Errorf("operator %s cannot take an array [..]; use SUM/AVG/MIN/MAX on it", op)
	case l.kind == scalarKind && r.kind == scalarKind:
		v, ok := apply(op, l.scalar, r.scalar)
		if !ok {
			return value{}, fmt.Errorf("%v %s %v has no value", l.scalar, op, r.scalar)
		}
		return scalar(v), nil
	case l.kind == seriesKind && r.kind == scalarKind:
		return mapValue(l, func(x float64) (float64, bool) { return apply(op, x, r.scalar) })
	case l.kind == scalarKind && r.kind == seriesKind:
		return mapValue(r, func(x float64) (float64, bool) { return apply(op, l.scalar, x) })
	default:
		out := Series{}
		for t, a := range l.series {
			if b, ok := r.series[t]; ok {
				if v, ok := apply(op, a, b); ok {
					out[t] = v
				}
			}
		}
		return series(out), nil
	}
}

func (n callNode) eval(e *env) (value, error) {
	switch n.fn {
	case "FILL":
		if len(n.args) != 2 {
			return value{}, fmt.Errorf("FILL takes 2 arguments (series, value or REPEAT), got %d", len(n.args))
		}
		x, err := n.args[0].eval(e)
		if err != nil {
			return value{}, err
		}
		if kw, ok := n.args[1].(keywordNode); ok {
			return fillRepeat(x, string(kw), e.domain)
		}
		fv, err := n.args[1].eval(e)
		if err != nil {
			return value{}, err
		}
		if fv.kind != scalarKind {
			return value{}, fmt.Errorf("FILL's second argument must be a number or REPEAT")
		}
		return fill(x, fv.scalar, e.domain)
	case "IF":
		if len(n.args) != 2 && len(n.args) != 3 {
			return value{}, fmt.Errorf("IF takes 2 or 3 arguments (condition, then[, else]), got %d", len(n.args))
		}
		vals := make([]value, len(n.args))
		for i, a := range n.args {
			v, err := a.eval(e)
			if err != nil {
				return value{}, err
			}
			if v.kind == arrayKind {
				return value{}, fmt.Errorf("IF cannot take an array [..]")
			}
			vals[i] = v
		}
		return ifValue(vals, e.domain), nil
	case "SUM", "AVG", "MIN", "MAX":
		if len(n.args) != 1 {
			return value{}, fmt.Errorf("%s takes 1 argument, got %d", n.fn, len(n.args))
		}
		v, err := n.args[0].eval(e)
		if err != nil {
			return value{}, err
		}
		return aggregate(n.fn, v)
	case "ABS":
		if len(n.args) != 1 {
			return value{}, fmt.Errorf("ABS takes 1 argument, got %d", len(n.args))
		}
		v, err := n.args[0].eval(e)
		if err != nil {
			return value{}, err
		}
		return mapValue(v, func(x float64) (float64, bool) { return math.Abs(x), true })
	}
	return value{}, fmt.Errorf("function %s is not supported by the emulator's metric math (supported: FILL, IF, SUM, AVG, MIN, MAX, ABS)", n.fn)
}

func fill(x value, f float64, domain []int64) (value, error) {
	switch x.kind {
	case scalarKind:
		return x, nil
	case seriesKind:
		out := Series{}
		for _, t := range domain {
			if v, ok := x.series[t]; ok {
				out[t] = v
			} else {
				out[t] = f
			}
		}
		return series(out), nil
	default:
		out := make([]value, 0, len(x.array))
		for _, a := range x.array {
			v, err := fill(a, f, domain)
			if err != nil {
				return value{}, err
			}
			out = append(out, v)
		}
		return arrayOf(out), nil
	}
}

func fillRepeat(x value, kw string, domain []int64) (value, error) {
	if kw != "REPEAT" {
		return value{}, fmt.Errorf("FILL(…, %s) is not supported by the emulator; use a number or REPEAT", kw)
	}
	if x.kind != seriesKind {
		return value{}, fmt.Errorf("FILL(…, REPEAT) needs a time series")
	}
	out := Series{}
	last, have := 0.0, false
	for _, t := range domain {
		if v, ok := x.series[t]; ok {
			last, have = v, true
		}
		if have {
			out[t] = last
		}
	}
	return series(out), nil
}

func truthAt(v value, t int64) (bool, bool) {
	if v.kind == scalarKind {
		return v.scalar != 0, true
	}
	x, ok := v.series[t]
	return x != 0, ok
}

func valueAt(v value, t int64) (float64, bool) {
	if v.kind == scalarKind {
		return v.scalar, true
	}
	x, ok := v.series[t]
	return x, ok
}

func ifValue(vals []value, domain []int64) value {
	allScalar := true
	for _, v := range vals {
		if v.kind != scalarKind {
			allScalar = false
		}
	}
	if allScalar {
		if vals[0].scalar != 0 {
			return vals[1]
		}
		if len(vals) == 3 {
			return vals[2]
		}
		return series(Series{})
	}
	out := Series{}
	for _, t := range domain {
		c, ok := truthAt(vals[0], t)
		if !ok {
			continue
		}
		var x float64
		var have bool
		if c {
			x, have = valueAt(vals[1], t)
		} else if len(vals) == 3 {
			x, have = valueAt(vals[2], t)
		}
		if have {
			out[t] = x
		}
	}
	return series(out)
}

func aggregate(fn string, v value) (value, error) {
	agg := func(xs []float64) (float64, bool) {
		if len(xs) == 0 {
			return 0, false
		}
		r := xs[0]
		sum := 0.0
		for _, x := range xs {
			sum += x
			switch fn {
			case "MIN":
				r = math.Min(r, x)
			case "MAX":
				r = math.Max(r, x)
			}
		}
		switch fn {
		case "SUM":
			return sum, true
		case "AVG":
			return sum / float64(len(xs)), true
		}
		return r, true
	}
	switch v.kind {
	case scalarKind:
		return v, nil
	case seriesKind:
		// Over one series: a single scalar.
		xs := make([]float64, 0, len(v.series))
		for _, x := range v.series {
			xs = append(xs, x)
		}
		r, ok := agg(xs)
		if !ok {
			return series(Series{}), nil
		}
		return scalar(r), nil
	default:
		// Over an array: a series, point by point over the timestamps present in any member.
		ts := map[int64]bool{}
		for _, a := range v.array {
			if a.kind == seriesKind {
				for t := range a.series {
					ts[t] = true
				}
			}
		}
		out := Series{}
		for t := range ts {
			var xs []float64
			for _, a := range v.array {
				if x, ok := valueAt(a, t); ok {
					xs = append(xs, x)
				}
			}
			if r, ok := agg(xs); ok {
				out[t] = r
			}
		}
		return series(out), nil
	}
}

// Parse parses a metric-math expression.
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	p := &parser{toks: toks}
	n, err := p.parseOr()
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("expression %q: unexpected %q", src, p.toks[p.pos].s)
	}
	return &Expr{src: src, root: n}, nil
}

type token struct {
	kind int // tNum, tIdent, tOp
	s    string
	num  float64
}

const (
	tNum = iota
	tIdent
	tOp
)

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '+' || s[j] == '-') && j > i && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q", s[i:j])
			}
			out = append(out, token{kind: tNum, s: s[i:j], num: f})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			out = append(out, token{kind: tIdent, s: s[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case ">=", "<=", "==", "!=", "&&", "||":
				out = append(out, token{kind: tOp, s: two})
				i += 2
				continue
			}
			if strings.ContainsRune("+-*/^()<>,[]!", c) {
				out = append(out, token{kind: tOp, s: string(c)})
				i++
				continue
			}
			return nil, fmt.Errorf("unexpected character %q", string(c))
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) isOp(ops ...string) (string, bool) {
	t, ok := p.peek()
	if !ok {
		return "", false
	}
	for _, o := range ops {
		if (t.kind == tOp && t.s == o) || (t.kind == tIdent && strings.EqualFold(t.s, o) && isWordOp(o)) {
			return o, true
		}
	}
	return "", false
}

func isWordOp(o string) bool { return o == "AND" || o == "OR" || o == "NOT" }

func (p *parser) expect(s string) error {
	t, ok := p.peek()
	if !ok || t.kind != tOp || t.s != s {
		if !ok {
			return fmt.Errorf("expected %q at the end", s)
		}
		return fmt.Errorf("expected %q, found %q", s, t.s)
	}
	p.pos++
	return nil
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		if _, ok := p.isOp("OR", "||"); !ok {
			return l, nil
		}
		p.pos++
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = binNode{"OR", l, r}
	}
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for {
		if _, ok := p.isOp("AND", "&&"); !ok {
			return l, nil
		}
		p.pos++
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = binNode{"AND", l, r}
	}
}

func (p *parser) parseNot() (node, error) {
	if _, ok := p.isOp("NOT", "!"); ok {
		p.pos++
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return unNode{"NOT", x}, nil
	}
	return p.parseCmp()
}

func (p *parser) parseCmp() (node, error) {
	l, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	if op, ok := p.isOp(">=", "<=", "==", "!=", ">", "<"); ok {
		p.pos++
		r, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		return binNode{op, l, r}, nil
	}
	return l, nil
}

func (p *parser) parseAdd() (node, error) {
	l, err := p.parseMul()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.isOp("+", "-")
		if !ok {
			return l, nil
		}
		p.pos++
		r, err := p.parseMul()
		if err != nil {
			return nil, err
		}
		l = binNode{op, l, r}
	}
}

func (p *parser) parseMul() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.isOp("*", "/")
		if !ok {
			return l, nil
		}
		p.pos++
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = binNode{op, l, r}
	}
}

func (p *parser) parseUnary() (node, error) {
	if _, ok := p.isOp("-"); ok {
		p.pos++
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return unNode{"-", x}, nil
	}
	if _, ok := p.isOp("+"); ok {
		p.pos++
		return p.parseUnary()
	}
	return p.parsePow()
}

func (p *parser) parsePow() (node, error) {
	base, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	if _, ok := p.isOp("^"); ok {
		p.pos++
		exp, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return binNode{"^", base, exp}, nil
	}
	return base, nil
}

func (p *parser) parsePrimary() (node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("unexpected end")
	}
	switch {
	case t.kind == tNum:
		p.pos++
		return numNode(t.num), nil
	case t.kind == tOp && t.s == "(":
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case t.kind == tOp && t.s == "[":
		p.pos++
		var items arrNode
		for {
			n, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			items = append(items, n)
			if _, ok := p.isOp(","); ok {
				p.pos++
				continue
			}
			return items, p.expect("]")
		}
	case t.kind == tIdent:
		p.pos++
		if _, ok := p.isOp("("); ok {
			p.pos++
			call := callNode{fn: strings.ToUpper(t.s)}
			if _, ok := p.isOp(")"); ok {
				p.pos++
				return call, nil
			}
			for {
				var arg node
				if nt, ok := p.peek(); ok && nt.kind == tIdent && (nt.s == "REPEAT" || nt.s == "LINEAR") && call.fn == "FILL" {
					p.pos++
					arg = keywordNode(nt.s)
				} else {
					var err error
					if arg, err = p.parseOr(); err != nil {
						return nil, err
					}
				}
				call.args = append(call.args, arg)
				if _, ok := p.isOp(","); ok {
					p.pos++
					continue
				}
				return call, p.expect(")")
			}
		}
		return identNode(t.s), nil
	}
	return nil, fmt.Errorf("unexpected %q", t.s)
}
