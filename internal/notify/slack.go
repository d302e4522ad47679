package notify

import (
	"strings"
)

// Slack renders a Block Kit message for an incoming webhook
// (https://api.slack.com/messaging/webhooks): a header with the outcome, the reason's
// summary, a section per kind of evidence, the facts as fields, warnings, links and a
// context footer, plus fallback text for notifications.
//
// Links are mrkdwn links, not buttons: Slack treats every button, even a pure URL button, as
// an interactive element and shows a warning next to it unless the app acknowledges the
// click, which an incoming webhook cannot (slackapi/node-slack-sdk#869).
//
// Block Kit has no colour for top-level blocks; the outcome's emoji carries it.
type Slack struct{}

// SlackMessage is the incoming-webhook body.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a header, section or context block.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a plain_text or mrkdwn text object.
type SlackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Slack's limits (Block Kit reference).
const (
	slackMaxBlocks     = 50
	slackHeaderChars   = 150
	slackSectionChars  = 3000
	slackFieldChars    = 2000
	slackMaxFields     = 10
	slackContextChars  = 3000
	slackFallbackChars = 3000
)

// Render implements Renderer.
func (Slack) Render(in Input) (any, error) {
	return fit(Compose(in.Result), buildSlack), nil
}

func buildSlack(m Message) (SlackMessage, bool) {
	var c clamp
	var blocks []SlackBlock
	section := func(text string) {
		if text == "" {
			return
		}
		blocks = append(blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: c.chars(text, slackSectionChars)}})
	}
	blocks = append(blocks, SlackBlock{Type: "header", Text: &SlackText{Type: "plain_text", Text: fixed(m.Headline, slackHeaderChars), Emoji: true}})
	section(slackEscape(m.Summary))
	section(slackBullets(m.Details))
	for _, s := range m.Evidence {
		var b strings.Builder
		b.WriteString("*" + slackEscape(s.Title) + "*")
		for _, l := range s.Lines {
			b.WriteString("\n• " + slackEscape(l.Text))
			if l.Code != "" {
				b.WriteString("\n```" + slackCode(l.Code) + "```")
			}
		}
		section(b.String())
	}
	if len(m.Facts) > 0 {
		var fields []SlackText
		for i, f := range m.Facts {
			if i == slackMaxFields {
				c.cut = true
				break
			}
			fields = append(fields, SlackText{Type: "mrkdwn", Text: c.chars("*"+slackEscape(f.Name)+"*\n"+slackEscape(f.Value), slackFieldChars)})
		}
		blocks = append(blocks, SlackBlock{Type: "section", Fields: fields})
	}
	if len(m.Warnings) > 0 {
		lines := make([]string, len(m.Warnings))
		for i, w := range m.Warnings {
			lines[i] = "⚠️ " + slackEscape(w)
		}
		section(strings.Join(lines, "\n"))
	}
	if len(m.Links) > 0 {
		var parts []string
		n := 0
		for _, l := range m.Links {
			p := "<" + slackURL(l.URL) + "|" + slackEscape(l.Text) + ">"
			if n+len(p)+3 > slackSectionChars {
				c.cut = true
				continue
			}
			parts = append(parts, p)
			n += len(p) + 3
		}
		section(strings.Join(parts, " · "))
	}
	if m.Footer != "" {
		blocks = append(blocks, SlackBlock{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: c.chars(slackEscape(m.Footer), slackContextChars)}}})
	}
	if len(blocks) > slackMaxBlocks {
		c.cut = true
		blocks = append(blocks[:slackMaxBlocks-1], blocks[len(blocks)-1])
	}
	fallback := m.Headline
	if m.Summary != "" {
		fallback += "\n" + m.Summary
	}
	return SlackMessage{Text: fixed(slackEscape(fallback), slackFallbackChars), Blocks: blocks}, c.cut
}

// slackEscape escapes the three characters Slack's mrkdwn reserves, which also keeps a body
// excerpt from mentioning <!channel>.
func slackEscape(s string) string { return slackEscaper.Replace(s) }

var (
	slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	slackURLSafe = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20")
)

// slackCode escapes an excerpt for a ``` block and keeps it from closing the block early.
func slackCode(s string) string {
	return strings.ReplaceAll(slackEscape(s), "```", "'''")
}

// slackURL keeps a URL from breaking out of <url|text>.
func slackURL(u string) string {
	return slackURLSafe.Replace(u)
}

func slackBullets(items []string) string {
	if len(items) == 0 {
		return ""
	}
	lines := make([]string, len(items))
	for i, s := range items {
		lines[i] = "• " + slackEscape(s)
	}
	return strings.Join(lines, "\n")
}
