package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Style is a colour for people's output; it is dropped when colours are off.
type Style string

// Styles.
const (
	Plain  Style = ""
	Bold   Style = "1"
	Dim    Style = "2"
	Red    Style = "31"
	Green  Style = "32"
	Yellow Style = "33"
	Cyan   Style = "36"
)

// Colors reports whether this run colours its output: stdout is a terminal, NO_COLOR is
// unset, TERM is not "dumb", and --no-color was not given.
func (e *Env) Colors() bool {
	return !e.Global.NoColor && e.Getenv("NO_COLOR") == "" && e.Getenv("TERM") != "dumb" && e.IsTerminal(e.Stdout)
}

// Paint applies st when colours are on.
func (e *Env) Paint(st Style, s string) string {
	if st == Plain || !e.Colors() {
		return s
	}
	return "\x1b[" + string(st) + "m" + s + "\x1b[0m"
}

// JSON reports whether the output is for machines (json or yaml).
func (e *Env) JSON() bool { return e.Global.Output != "text" }

// Emit writes v as JSON or YAML, or calls human for the text form.
func (e *Env) Emit(v any, human func(w io.Writer)) error {
	switch e.Global.Output {
	case "json":
		return writeJSON(e.Stdout, v)
	case "yaml":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := jsonToYAML(b)
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(y)
		return err
	}
	human(e.Stdout)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// jsonToYAML re-renders JSON as block YAML, keeping key order.
func jsonToYAML(b []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	var clear func(*yaml.Node)
	clear = func(n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			n.Style = 0
		} else if n.Tag == "!!str" {
			n.Style = 0 // the encoder quotes strings that would read back as something else
		}
		for _, c := range n.Content {
			clear(c)
		}
	}
	clear(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Cell is one table cell.
type Cell struct {
	Text  string
	Style Style
}

// C is a plain cell; Cs a styled one.
func C(s string) Cell            { return Cell{Text: s} }
func Cs(st Style, s string) Cell { return Cell{Text: s, Style: st} }

// Table renders columns padded by their plain-text width, then coloured, so colours never
// break the alignment.
type Table struct {
	Header []string
	Rows   [][]Cell
}

// Add appends a row.
func (t *Table) Add(cells ...Cell) { t.Rows = append(t.Rows, cells) }

// Write renders the table.
func (t *Table) Write(e *Env, w io.Writer) {
	n := len(t.Header)
	for _, r := range t.Rows {
		n = max(n, len(r))
	}
	width := make([]int, n)
	for i, h := range t.Header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c.Text))
		}
	}
	line := func(cells []Cell) {
		var b strings.Builder
		for i, c := range cells {
			text := c.Text
			if i < len(cells)-1 {
				text += strings.Repeat(" ", width[i]-utf8.RuneCountInString(c.Text)+2)
				b.WriteString(e.Paint(c.Style, c.Text) + text[len(c.Text):])
			} else {
				b.WriteString(e.Paint(c.Style, c.Text))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if len(t.Header) > 0 {
		h := make([]Cell, len(t.Header))
		for i, s := range t.Header {
			h[i] = Cs(Bold, s)
		}
		line(h)
	}
	for _, r := range t.Rows {
		line(r)
	}
}

// OutcomeStyle colours outcomes and statuses.
func OutcomeStyle(s string) Style {
	switch s {
	case "SUCCEEDED", "SUCCESSFUL", "PASS", "OK", "ROLLBACK_SUCCESSFUL":
		if s == "ROLLBACK_SUCCESSFUL" {
			return Yellow
		}
		return Green
	case "ROLLED_BACK", "FAILED", "FAIL", "ALARM", "ROLLBACK_FAILED", "REGRESSED", "BLOCKED", "TIMED_OUT", "ABORTED":
		return Red
	case "SKIPPED", "SUPERSEDED", "INSUFFICIENT_DATA", "STOPPED":
		return Dim
	}
	return Yellow
}

// Duration renders 0s, 42s, 3m05s, 1h02m.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(math.Round(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
	}
}

// Seconds renders a float second count like Duration.
func Seconds(f float64) string { return Duration(time.Duration(f * float64(time.Second))) }

// Ago renders how long before now t was ("3m05s ago"), or "-" for zero.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !t.Before(now) {
		return "just now"
	}
	return Duration(now.Sub(t)) + " ago"
}

// Stamp renders a time in UTC for tables: 2026-11-20 10:04:12Z.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ErrNotConfirmed is returned when the person answers no.
var ErrNotConfirmed = errors.New("not confirmed")

// Confirm asks question on stderr and reads y/yes from stdin. yes skips the prompt. With
// nothing to read (no terminal, no piped answer) it is a usage error asking for --yes.
func (e *Env) Confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(e.Stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(e.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(e.Stderr)
		return Usagef("no answer on standard input: pass --yes to confirm without a prompt")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &Error{Code: ExitFailed, Err: fmt.Errorf("cancelled: nothing was changed")}
}
