package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// hugeResult is a rollback with everything too long: a 200 KB multi-byte body excerpt,
// 5000 alarm datapoints, 400 failed checks, 200 stopped tasks, a 20 KB summary and reason,
// 100 details and warnings.
func hugeResult(t testing.TB) result.Result {
	r, _ := loadResult(t, "rolled-back-smoke")
	body := strings.Repeat("ERROR é日本語🙂 <!channel> @everyone ```\n", 200<<10/48)
	ev := r.Reason.Evidence
	for i := range 400 {
		excerpt := body[:400]
		if i < 5 {
			excerpt = body
		}
		ev.SmokeChecks = append(ev.SmokeChecks, result.CheckEvidence{
			Stage: "POST_SCALE_UP", Address: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250), Check: "health", Method: "GET",
			Path: "/health", Status: 500, LatencyMs: int64(i), BodyExcerpt: excerpt, Failure: "status 500, want 200",
		})
	}
	var dps []result.Datapoint
	for i := range 5000 {
		dps = append(dps, result.Datapoint{At: r.StartedAt.Add(time.Duration(i) * time.Minute), Value: float64(i) / 7})
	}
	ev.Alarms = []result.AlarmEvidence{{Name: "web-5xx-rate", State: "ALARM", Metric: "5xx rate %", Comparison: "GreaterThanThreshold", Threshold: 5, PeriodSeconds: 60, EvaluationPeriods: 3, Breaching: 3, Datapoints: dps, StateReason: body}}
	for i := range 200 {
		code := int32(137)
		ev.StoppedTasks = append(ev.StoppedTasks, result.StoppedTask{TaskARN: fmt.Sprintf("arn:aws:ecs:eu-west-1:111122223333:task/prod/%032d", i), StoppedReason: body[:300], Containers: []result.ContainerExit{{Name: "app", ExitCode: &code, Reason: body[:200]}}})
	}
	ev.CircuitBreaker = &result.CircuitBreaker{Status: "TRIGGERED", FailureCount: 200, Threshold: 3}
	ev.Error = &result.ErrorEvidence{Step: "check", Name: "greenlight.Internal", Message: body[:20000]}
	ev.ECSRollbackReason = body[:20000]
	r.ECSStatusReason = body[:10000]
	r.Reason.Summary = strings.Repeat("the summary goes on and on é日🙂 ", 700)
	for i := range 100 {
		r.Reason.Details = append(r.Reason.Details, fmt.Sprintf("detail %d: %s", i, body[:200]))
		r.Warnings = append(r.Warnings, fmt.Sprintf("warning %d: %s", i, body[:200]))
	}
	r.Service = strings.Repeat("very-long-service-name-", 20)
	return r
}

// TestLimits renders the huge result with every renderer and checks each platform's limits.
func TestLimits(t *testing.T) {
	r := hugeResult(t)
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, rd := range goldenRenderers {
		t.Run(name, func(t *testing.T) {
			p, err := rd.Render(Input{Result: r, Raw: raw})
			if err != nil {
				t.Fatalf("%s.Render(huge) error: %v; renderers never fail on content", name, err)
			}
			b, err := Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("%s.Render(huge): invalid JSON or UTF-8", name)
			}
			t.Logf("%s: %d bytes, shrink level %d", name, len(b), shrinkLevel(name, r))
			if name != "webhook" && !strings.Contains(string(b), TruncationMarker) {
				t.Errorf("%s.Render(huge) cut nothing, or cut without the marker %q", name, TruncationMarker)
			}
			if name != "webhook" && !strings.Contains(string(b), "Rolled back") {
				t.Errorf("%s.Render(huge) lost the headline", name)
			}
			switch p := p.(type) {
			case SlackMessage:
				checkSlack(t, p)
			case DiscordMessage:
				checkDiscord(t, p)
			case TeamsMessage:
				if len(b) > 28*1024 {
					t.Errorf("teams payload = %d bytes; want at most 28 KB", len(b))
				}
			case GoogleChatMessage:
				if len(b) > 32000 {
					t.Errorf("google chat payload = %d bytes; want at most 32,000", len(b))
				}
			case AmazonQMessage:
				if n := len(p.Content.Description); n > amazonQDescriptionBytes || n == 0 {
					t.Errorf("amazon q description = %d bytes; want 1..%d", n, amazonQDescriptionBytes)
				}
				if len(b) > 256<<10 {
					t.Errorf("amazon q message = %d bytes; want under SNS's 256 KB", len(b))
				}
			case json.RawMessage:
				if !json.Valid(p) || len(p) != len(compact(t, raw)) {
					t.Errorf("webhook body is not the result as published")
				}
			default:
				t.Fatalf("unexpected payload type %T", p)
			}
		})
	}
}

func checkSlack(t *testing.T, p SlackMessage) {
	t.Helper()
	if len(p.Blocks) > slackMaxBlocks {
		t.Errorf("slack: %d blocks; want at most %d", len(p.Blocks), slackMaxBlocks)
	}
	if n := utf16Len(p.Text); n > slackFallbackChars {
		t.Errorf("slack fallback text: %d chars", n)
	}
	for i, b := range p.Blocks {
		if b.Text != nil {
			max := slackSectionChars
			if b.Type == "header" {
				max = slackHeaderChars
			}
			if n := utf16Len(b.Text.Text); n > max {
				t.Errorf("slack block %d (%s): %d chars; want at most %d", i, b.Type, n, max)
			}
			if strings.Contains(b.Text.Text, "<!channel>") {
				t.Errorf("slack block %d: an evidence excerpt can mention the channel", i)
			}
		}
		if len(b.Fields) > slackMaxFields {
			t.Errorf("slack block %d: %d fields", i, len(b.Fields))
		}
		for _, f := range b.Fields {
			if n := utf16Len(f.Text); n > slackFieldChars {
				t.Errorf("slack field: %d chars", n)
			}
		}
	}
}

func checkDiscord(t *testing.T, p DiscordMessage) {
	t.Helper()
	if len(p.Embeds) == 0 || len(p.Embeds) > 10 {
		t.Fatalf("discord: %d embeds; want 1..10", len(p.Embeds))
	}
	if p.AllowedMentions.Parse == nil || len(p.AllowedMentions.Parse) != 0 {
		t.Errorf("discord: allowed_mentions.parse = %v; want [] (no mentions)", p.AllowedMentions.Parse)
	}
	total := 0
	for _, e := range p.Embeds {
		total += discordChars(e)
		if utf16Len(e.Title) > discordTitleChars || utf16Len(e.Description) > discordDescriptionChars {
			t.Errorf("discord: title %d / description %d chars over the limit", utf16Len(e.Title), utf16Len(e.Description))
		}
		if len(e.Fields) > discordMaxFields {
			t.Errorf("discord: %d fields", len(e.Fields))
		}
		for _, f := range e.Fields {
			if utf16Len(f.Name) > discordFieldNameChars || utf16Len(f.Value) > discordFieldValueChars {
				t.Errorf("discord field %q: name %d / value %d chars over the limit", f.Name, utf16Len(f.Name), utf16Len(f.Value))
			}
		}
	}
	if total > discordTotalChars {
		t.Errorf("discord: embeds total %d chars; want at most %d", total, discordTotalChars)
	}
}

func compact(t testing.TB, b []byte) []byte {
	p, err := Webhook{}.Render(Input{Raw: b})
	if err != nil {
		t.Fatal(err)
	}
	return p.(json.RawMessage)
}

// BenchmarkRender measures each renderer on a typical rollback and on the huge result, and
// reports the payload size.
func BenchmarkRender(b *testing.B) {
	typical, _ := loadResult(b, "rolled-back-smoke")
	huge := hugeResult(b)
	for _, c := range []struct {
		name string
		r    result.Result
	}{{"typical", typical}, {"huge", huge}} {
		raw, _ := json.Marshal(c.r)
		for _, name := range []string{"slack", "teams", "googlechat", "discord", "webhook", "amazonq"} {
			rd := goldenRenderers[name]
			b.Run(name+"/"+c.name, func(b *testing.B) {
				var size int
				for b.Loop() {
					p, _ := rd.Render(Input{Result: c.r, Raw: raw})
					out, _ := Encode(p)
					size = len(out)
				}
				b.ReportMetric(float64(size), "payload-bytes")
			})
		}
	}
}

// shrinkLevel is the level at which a renderer's payload fits (for the log).
func shrinkLevel(name string, r result.Result) int {
	m := Compose(r)
	for level := 0; level <= maxShrink; level++ {
		var cut bool
		switch name {
		case "slack":
			_, cut = buildSlack(m.shrink(level))
		case "teams":
			_, cut = buildTeams(m.shrink(level))
		case "googlechat":
			_, cut = buildGoogleChat(m.shrink(level))
		case "discord":
			_, cut = buildDiscord(m.shrink(level))
		case "amazonq":
			_, cut = buildAmazonQ(r, m.shrink(level))
		default:
			return 0
		}
		if !cut {
			return level
		}
	}
	return maxShrink
}
