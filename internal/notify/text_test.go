package notify

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		m    measure
		want string
	}{
		{"fits", "hello", 5, utf16Len, "hello"},
		{"cut", "hello world, this is long", 20, utf16Len, "hello w" + TruncationMarker},
		{"zero", "hello", 0, utf16Len, ""},
		{"marker does not fit", "hello world", 3, utf16Len, "… ("},
		{"emoji counts two UTF-16 units", strings.Repeat("🙂", 20), 20, utf16Len, "🙂🙂🙂" + TruncationMarker},
		{"bytes never split a rune", strings.Repeat("日", 20), 20, byteLen, "日" + TruncationMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.in, tt.max, tt.m)
			if got != tt.want {
				t.Errorf("truncate(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
			}
			if tt.m(got) > tt.max {
				t.Errorf("truncate(%q, %d) = %q, %d long; want at most %d", tt.in, tt.max, got, tt.m(got), tt.max)
			}
			if !utf8.ValidString(got) {
				t.Errorf("truncate(%q, %d) = %q: invalid UTF-8", tt.in, tt.max, got)
			}
		})
	}
}

// TestTruncateProperties checks every cut of mixed-width text: within the limit, valid
// UTF-8, a prefix of the input, and marked.
func TestTruncateProperties(t *testing.T) {
	s := strings.Repeat("aé日🙂\n", 40) + "\xff\xfe tail"
	for _, m := range []struct {
		name string
		f    measure
	}{{"utf16", utf16Len}, {"bytes", byteLen}} {
		for max := 0; max < m.f(s)+2; max++ {
			got := truncate(s, max, m.f)
			if m.f(got) > max {
				t.Fatalf("%s truncate(s, %d): %d long", m.name, max, m.f(got))
			}
			if got == s {
				continue
			}
			if max < m.f(TruncationMarker) {
				if !strings.HasPrefix(TruncationMarker, got) {
					t.Fatalf("%s truncate(s, %d) = %q; want a prefix of the marker", m.name, max, got)
				}
				continue
			}
			if !strings.HasSuffix(got, TruncationMarker) {
				t.Fatalf("%s truncate(s, %d) = %q: no marker", m.name, max, got)
			}
			body := strings.TrimSuffix(got, TruncationMarker)
			if !strings.HasPrefix(s, body) {
				t.Fatalf("%s truncate(s, %d) = %q: not a prefix of the input", m.name, max, got)
			}
			if !utf8.RuneStart(s[len(body)]) {
				t.Fatalf("%s truncate(s, %d) = %q: split a rune", m.name, max, got)
			}
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0s"}, {-3, "0s"}, {0.4, "0.4s"}, {1, "1s"}, {59.6, "1m 0s"}, {161, "2m 41s"}, {3725, "1h 2m 5s"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.in); got != tt.want {
			t.Errorf("formatDuration(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{"-1", 0, false},
		{"Fri, 20 Nov 2026 10:00:05 GMT", 5 * time.Second, true},
		{"Fri, 20 Nov 2026 09:59:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestWants(t *testing.T) {
	tests := []struct {
		outcomes []string
		o        result.Outcome
		want     bool
	}{
		{nil, result.Succeeded, true},
		{nil, result.RolledBack, true},
		{nil, result.Skipped, false},
		{[]string{"SKIPPED"}, result.Skipped, true},
		{[]string{"ROLLED_BACK", "FAILED"}, result.Succeeded, false},
		{[]string{"ROLLED_BACK", "FAILED"}, result.Failed, true},
		{[]string{"rolled_back"}, result.RolledBack, true},
	}
	for _, tt := range tests {
		if got := Wants(tt.outcomes, tt.o); got != tt.want {
			t.Errorf("Wants(%v, %s) = %v; want %v", tt.outcomes, tt.o, got, tt.want)
		}
	}
}

func TestCompose(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c, func(t *testing.T) {
			r, _ := loadResult(t, c)
			m := Compose(r)
			st := StyleOf(r.Outcome)
			if !strings.HasPrefix(m.Headline, st.Emoji+" "+st.Words+": "+r.Service) {
				t.Errorf("Compose(%s).Headline = %q; want outcome first, then the service", c, m.Headline)
			}
			if r.Environment != "" && !strings.Contains(m.Headline, r.Environment) {
				t.Errorf("Compose(%s).Headline = %q; want the environment %q", c, m.Headline, r.Environment)
			}
			if r.Outcome == result.Succeeded {
				if m.Summary != "" || len(m.Evidence) != 0 {
					t.Errorf("Compose(%s): success has summary %q and %d evidence sections; want none", c, m.Summary, len(m.Evidence))
				}
			} else if m.Summary != r.Reason.Summary {
				t.Errorf("Compose(%s).Summary = %q; want reason.summary verbatim %q", c, m.Summary, r.Reason.Summary)
			}
			if n := len(m.Evidence); n > 0 && r.ECSStatusReason != "" && showECS(r) && m.Evidence[n-1].Title != "ECS said" {
				t.Errorf("Compose(%s): last evidence section is %q; want ECS's own words last", c, m.Evidence[n-1].Title)
			}
			if !hasFact(m, "Image", r.Image.Tag) || !hasFact(m, "Image", r.Image.ShortDigest()) {
				t.Errorf("Compose(%s).Facts = %v; want the image tag and short digest", c, m.Facts)
			}
			if r.PreviousImage != nil && !hasFact(m, "Previous image", r.PreviousImage.ShortDigest()) {
				t.Errorf("Compose(%s).Facts = %v; want the previous image", c, m.Facts)
			}
			if r.Links.Execution != "" && !hasLink(m, r.Links.Execution) {
				t.Errorf("Compose(%s).Links = %v; want the execution link", c, m.Links)
			}
		})
	}
}

func TestComposeEvidence(t *testing.T) {
	smoke, _ := loadResult(t, "rolled-back-smoke")
	m := Compose(smoke)
	if m.Evidence[0].Title != "Failed checks (2 of 4)" {
		t.Errorf("smoke evidence title = %q; want the failed count of all checks", m.Evidence[0].Title)
	}
	if len(m.Details) != 1 || m.Details[0] != "2 of 4 smoke checks failed at POST_SCALE_UP" {
		t.Errorf("details = %q; want those the evidence sections do not already show", m.Details)
	}
	if m.Evidence[0].Lines[0].Code != "" {
		t.Errorf("a short one-line body excerpt is in the check's summary; got a code excerpt too: %q", m.Evidence[0].Lines[0].Code)
	}
	if !strings.Contains(m.Evidence[0].Lines[1].Code, "connection refused") {
		t.Errorf("a multi-line body excerpt must be shown in full; got %q", m.Evidence[0].Lines[1].Code)
	}

	alarm, _ := loadResult(t, "rolled-back-alarm")
	m = Compose(alarm)
	series := m.Evidence[0].Lines[1].Text
	if !strings.HasSuffix(series, "0, 0, 0.2, 0, 1.25, 22.5, 48") || !strings.Contains(series, "60 s") {
		t.Errorf("alarm series = %q; want the datapoints in order with their period", series)
	}

	// Thousands of datapoints: only the newest are shown, and the count says so.
	a := alarm.Reason.Evidence.Alarms[0]
	a.Datapoints = nil
	for i := range 3000 {
		a.Datapoints = append(a.Datapoints, result.Datapoint{At: alarm.StartedAt.Add(time.Duration(i) * time.Minute), Value: float64(i)})
	}
	got := datapointSeries(a)
	if !strings.Contains(got, "last 12 of 3000") || !strings.HasSuffix(got, "2998, 2999") {
		t.Errorf("datapointSeries(3000 points) = %q; want the last 12 and the total", got)
	}

	failed, _ := loadResult(t, "failed")
	m = Compose(failed)
	var titles []string
	for _, s := range m.Evidence {
		titles = append(titles, s.Title)
	}
	if strings.Join(titles, "|") != "Stopped tasks (3)|Circuit breaker|ECS said" {
		t.Errorf("failed evidence sections = %v", titles)
	}
	if l := m.Evidence[0].Lines[0].Text; !strings.Contains(l, "exit 137") || !strings.Contains(l, "OutOfMemoryError") {
		t.Errorf("stopped task line = %q; want the exit code and reason", l)
	}
}

func TestStyleOfUnknownOutcome(t *testing.T) {
	st := StyleOf("PAUSED_FOR_APPROVAL")
	if st.Words != "Paused for approval" || st.Tone != ToneNeutral {
		t.Errorf("StyleOf(unknown) = %+v; want its name in words, grey", st)
	}
}

func hasFact(m Message, name, sub string) bool {
	for _, f := range m.Facts {
		if f.Name == name && strings.Contains(f.Value, sub) {
			return true
		}
	}
	return false
}

func hasLink(m Message, u string) bool {
	for _, l := range m.Links {
		if l.URL == u {
			return true
		}
	}
	return false
}

func TestTrigger(t *testing.T) {
	tests := []struct {
		in   result.Trigger
		want string
	}{
		{result.Trigger{}, ""},
		{result.Trigger{Source: "ecr-push"}, "ECR push"},
		{result.Trigger{Source: "cli", RequestedBy: "alice"}, "greenlight CLI by alice"},
		{result.Trigger{Source: "rollback", RequestedBy: "bob"}, "greenlight rollback by bob"},
		{result.Trigger{Source: "regression-rollback"}, "rollback after regression"},
		{result.Trigger{Source: "something-new"}, "something-new"},
	}
	for _, tt := range tests {
		if got := trigger(tt.in); got != tt.want {
			t.Errorf("trigger(%+v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
