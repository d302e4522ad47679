package smoketest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// MaxBodyRead is the most of a response the hook reads; bodyContains and jsonEquals look at
// this much. The rest is never read.
const MaxBodyRead = 64 << 10

// response is what one probe got back.
type response struct {
	status    int
	body      []byte // at most MaxBodyRead bytes
	truncated bool   // the body was longer than MaxBodyRead
	latency   time.Duration
	// redirect says why a redirect was not followed ("" when none was refused).
	redirect string
}

// evaluate lists what is wrong with resp for check c, in words; none means it passed.
func evaluate(c routes.Check, resp response) []string {
	var fails []string
	if !c.ExpectStatus.Match(resp.status) {
		fails = append(fails, fmt.Sprintf("status %d, want %s", resp.status, c.ExpectStatus))
	}
	if resp.redirect != "" {
		fails = append(fails, resp.redirect)
	}
	if c.MaxLatencyMs > 0 && resp.latency > time.Duration(c.MaxLatencyMs)*time.Millisecond {
		fails = append(fails, fmt.Sprintf("took %d ms, max %d ms", resp.latency.Milliseconds(), c.MaxLatencyMs))
	}
	if c.BodyContains != "" && !bytes.Contains(resp.body, []byte(c.BodyContains)) {
		f := fmt.Sprintf("body does not contain %q", c.BodyContains)
		if resp.truncated {
			f += fmt.Sprintf(" in its first %d KiB", MaxBodyRead>>10)
		}
		fails = append(fails, f)
	}
	if len(c.JSONEquals) > 0 {
		fails = append(fails, jsonFailures(c.JSONEquals, resp)...)
	}
	return fails
}

func jsonFailures(want map[string]any, resp response) []string {
	if resp.truncated {
		return []string{fmt.Sprintf("body is larger than %d KiB: jsonEquals not checked", MaxBodyRead>>10)}
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return []string{"body is not JSON: " + err.Error()}
	}
	fields := make([]string, 0, len(want))
	for f := range want {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var fails []string
	for _, f := range fields {
		got, ok := lookup(doc, f)
		if !ok {
			fails = append(fails, fmt.Sprintf("%s is missing, want %s", f, render(want[f])))
			continue
		}
		if !jsonEqual(got, want[f]) {
			fails = append(fails, fmt.Sprintf("%s is %s, want %s", f, render(got), render(want[f])))
		}
	}
	return fails
}

// lookup follows a dotted path ("build.version", "items.0.id") through decoded JSON; a
// numeric part indexes an array.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, p := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[p]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// jsonEqual compares a value decoded with UseNumber against one from the routes document
// (plain encoding/json types): numbers by value, everything else structurally.
func jsonEqual(got, want any) bool {
	return reflect.DeepEqual(normalize(got), normalize(want))
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// excerpt returns at most result.MaxBodyExcerpt bytes of body as valid UTF-8, cut on a
// rune boundary.
func excerpt(body []byte) string {
	s := strings.ToValidUTF8(string(body[:min(len(body), 4*result.MaxBodyExcerpt)]), "\uFFFD")
	if len(s) <= result.MaxBodyExcerpt {
		return s
	}
	cut := result.MaxBodyExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
