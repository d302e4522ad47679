package notify

import (
	"strings"
	"time"
)

// Discord renders a message for a Discord channel webhook: one embed coloured by the
// outcome, its title the headline (linked to the ECS service deployment), its description
// the reason's summary and the evidence, the facts as inline fields, then warnings and links.
// Mentions are disabled (allowed_mentions), so a response body saying @everyone pings nobody.
type Discord struct{}

// DiscordMessage is the webhook body.
type DiscordMessage struct {
	Username        string                 `json:"username,omitempty"`
	Embeds          []DiscordEmbed         `json:"embeds"`
	AllowedMentions DiscordAllowedMentions `json:"allowed_mentions"`
}

// DiscordAllowedMentions with an empty Parse list disables every mention.
type DiscordAllowedMentions struct {
	Parse []string `json:"parse"`
}

// DiscordEmbed is one embed.
type DiscordEmbed struct {
	Title       string         `json:"title,omitempty"`
	URL         string         `json:"url,omitempty"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []DiscordField `json:"fields,omitempty"`
	Footer      *DiscordFooter `json:"footer,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
}

// DiscordField is one embed field.
type DiscordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// DiscordFooter is the embed footer.
type DiscordFooter struct {
	Text string `json:"text"`
}

// Discord's embed limits (characters).
const (
	discordTitleChars       = 256
	discordDescriptionChars = 4096
	discordMaxFields        = 25
	discordFieldNameChars   = 256
	discordFieldValueChars  = 1024
	discordFooterChars      = 2048
	discordTotalChars       = 6000 // title + description + field names and values + footer, all embeds
)

// Render implements Renderer.
func (Discord) Render(in Input) (any, error) {
	m := Compose(in.Result)
	msg := fit(m, buildDiscord)
	if !in.Result.FinishedAt.IsZero() {
		msg.Embeds[0].Timestamp = in.Result.FinishedAt.UTC().Format(time.RFC3339)
	}
	return msg, nil
}

func buildDiscord(m Message) (DiscordMessage, bool) {
	var c clamp
	var d strings.Builder
	if m.Summary != "" {
		d.WriteString("**" + discordEscape(m.Summary) + "**\n")
	}
	for _, s := range m.Details {
		d.WriteString("- " + discordEscape(s) + "\n")
	}
	for _, s := range m.Evidence {
		d.WriteString("\n__" + discordEscape(s.Title) + "__\n")
		for _, l := range s.Lines {
			d.WriteString("- " + discordEscape(l.Text) + "\n")
			if l.Code != "" {
				d.WriteString("```\n" + strings.ReplaceAll(l.Code, "```", "'''") + "\n```\n")
			}
		}
	}
	e := DiscordEmbed{
		Title:       fixed(m.Headline, discordTitleChars),
		Description: c.chars(strings.TrimSpace(d.String()), discordDescriptionChars),
		Color:       ToneColors[m.Style.Tone],
	}
	if len(m.Links) > 0 {
		e.URL = m.Links[0].URL
	}
	field := func(name, value string, inline bool) {
		if len(e.Fields) == discordMaxFields {
			c.cut = true
			return
		}
		e.Fields = append(e.Fields, DiscordField{Name: c.chars(name, discordFieldNameChars), Value: c.chars(value, discordFieldValueChars), Inline: inline})
	}
	for _, f := range m.Facts {
		field(f.Name, discordEscape(f.Value), true)
	}
	if len(m.Warnings) > 0 {
		lines := make([]string, len(m.Warnings))
		for i, w := range m.Warnings {
			lines[i] = "⚠️ " + discordEscape(w)
		}
		field("Warnings", strings.Join(lines, "\n"), false)
	}
	if len(m.Links) > 0 {
		var parts []string
		n := 0
		for _, l := range m.Links {
			p := "[" + discordEscape(l.Text) + "](" + l.URL + ")"
			if n+utf16Len(p)+3 > discordFieldValueChars {
				c.cut = true
				continue
			}
			parts = append(parts, p)
			n += utf16Len(p) + 3
		}
		if len(parts) > 0 {
			field("Links", strings.Join(parts, " · "), false)
		}
	}
	if m.Footer != "" {
		e.Footer = &DiscordFooter{Text: c.chars(m.Footer, discordFooterChars)}
	}
	c.over(discordChars(e) > discordTotalChars)
	return DiscordMessage{Username: "greenlight", Embeds: []DiscordEmbed{e}, AllowedMentions: DiscordAllowedMentions{Parse: []string{}}}, c.cut
}

// discordChars counts what Discord's 6000-character embed total counts.
func discordChars(e DiscordEmbed) int {
	n := utf16Len(e.Title) + utf16Len(e.Description)
	for _, f := range e.Fields {
		n += utf16Len(f.Name) + utf16Len(f.Value)
	}
	if e.Footer != nil {
		n += utf16Len(e.Footer.Text)
	}
	return n
}

// discordEscape keeps evidence text from being read as Markdown.
func discordEscape(s string) string { return discordEscaper.Replace(s) }

var discordEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "~", `\~`, "|", `\|`, ">", `\>`, "#", `\#`, "[", `\[`, "]", `\]`)
