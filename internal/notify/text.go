package notify

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// TruncationMarker ends every text that was cut to fit a platform's limit.
const TruncationMarker = "… (truncated)"

// measure counts a string the way a platform counts its limit.
type measure func(string) int

// utf16Len counts UTF-16 code units: what JavaScript-backed platforms (Slack, Discord) call
// characters. It is never less than the rune count, so it is the safe reading of "characters".
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++ // not encodable: sent as U+FFFD
		}
	}
	return n
}

// byteLen counts UTF-8 bytes.
func byteLen(s string) int { return len(s) }

// truncate shortens s so that m(s) <= max, ending it with TruncationMarker when it cut. It
// never splits a rune and never fails: when even the marker does not fit, it returns as many
// whole runes of the marker as fit.
func truncate(s string, max int, m measure) string {
	if max <= 0 {
		return ""
	}
	if m(s) <= max {
		return s
	}
	budget := max - m(TruncationMarker)
	if budget < 0 {
		return fitRunes(TruncationMarker, max, m)
	}
	cut := fitRunes(s, budget, m)
	return strings.TrimRight(cut, " \n\t") + TruncationMarker
}

// fitRunes returns the longest prefix of s made of whole runes with m(prefix) <= max.
func fitRunes(s string, max int, m measure) string {
	used := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		w := m(s[i : i+size])
		if r == utf8.RuneError && size == 1 {
			w = m("\uFFFD") // what an invalid byte becomes on the wire
		}
		if used+w > max {
			return s[:i]
		}
		used += w
		i += size
	}
	return s
}

// truncateChars truncates to max UTF-16 units.
func truncateChars(s string, max int) string { return truncate(s, max, utf16Len) }

// oneLine folds whitespace (newlines included) into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// validUTF8 replaces invalid bytes, so that a body excerpt cut mid-rune upstream cannot make
// a payload invalid.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// formatDuration renders seconds as "6m 12s", "1h 2m 5s", "45s", "0.4s".
func formatDuration(seconds float64) string {
	if seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "0s"
	}
	if seconds < 1 {
		return fmt.Sprintf("%.1fs", seconds)
	}
	d := time.Duration(math.Round(seconds)) * time.Second
	h := int(d / time.Hour)
	m := int(d % time.Hour / time.Minute)
	s := int(d % time.Minute / time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm %ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// formatNumber renders a metric value compactly: 48, 1.25, 0.0031.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.3g", f)
}

// formatTime renders a timestamp for people, in UTC.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
