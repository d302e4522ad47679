package notify

import (
	"strings"
)

// Teams renders a message for a Microsoft Teams Workflows webhook (the "Send webhook alerts to
// a channel" template, or any flow triggered by "When a Teams webhook request is received"):
// one Adaptive Card 1.4 attachment. The old Office 365 connectors are retired and are not
// supported.
//
// Each line is its own TextBlock: Teams renders TextBlock text as Markdown, where a single
// newline is not a line break (microsoft/AdaptiveCards#5538).
type Teams struct{}

// TeamsMessage is the Workflows webhook body.
type TeamsMessage struct {
	Type        string            `json:"type"`
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment carries the card.
type TeamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     AdaptiveCard `json:"content"`
}

// AdaptiveCard is the card itself.
type AdaptiveCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	MSTeams *CardMSTeams  `json:"msteams,omitempty"`
	Body    []CardElement `json:"body"`
	Actions []CardAction  `json:"actions,omitempty"`
}

// CardMSTeams holds Teams-only card settings.
type CardMSTeams struct {
	Width string `json:"width"`
}

// CardElement is a TextBlock, Container or FactSet.
type CardElement struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	Size     string        `json:"size,omitempty"`
	Weight   string        `json:"weight,omitempty"`
	Color    string        `json:"color,omitempty"`
	FontType string        `json:"fontType,omitempty"`
	IsSubtle bool          `json:"isSubtle,omitempty"`
	Wrap     bool          `json:"wrap,omitempty"`
	Spacing  string        `json:"spacing,omitempty"`
	Style    string        `json:"style,omitempty"`
	Bleed    bool          `json:"bleed,omitempty"`
	Items    []CardElement `json:"items,omitempty"`
	Facts    []CardFact    `json:"facts,omitempty"`
}

// CardFact is one row of a FactSet.
type CardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// CardAction is an Action.OpenUrl button.
type CardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Power Automate rejects request bodies over about 28 KB; stay under it with room to spare.
const (
	teamsMaxBytes  = 27 * 1024
	teamsTextChars = 5000 // no documented TextBlock limit; keep one block readable
)

// Teams colours: Container styles and TextBlock colours per tone.
var teamsStyle = map[Tone][2]string{
	ToneGood:    {"good", "Good"},
	ToneBad:     {"attention", "Attention"},
	ToneWarning: {"warning", "Warning"},
	ToneNeutral: {"emphasis", "Default"},
}

// Render implements Renderer.
func (Teams) Render(in Input) (any, error) {
	return fit(Compose(in.Result), buildTeams), nil
}

func buildTeams(m Message) (TeamsMessage, bool) {
	var c clamp
	style := teamsStyle[m.Style.Tone]
	text := func(s string) CardElement {
		return CardElement{Type: "TextBlock", Text: c.chars(s, teamsTextChars), Wrap: true}
	}
	heading := func(s string) CardElement {
		e := text(s)
		e.Weight, e.Spacing = "Bolder", "Medium"
		return e
	}
	head := CardElement{Type: "Container", Style: style[0], Bleed: true, Items: []CardElement{
		{Type: "TextBlock", Text: fixed(m.Headline, 500), Size: "Large", Weight: "Bolder", Color: style[1], Wrap: true},
	}}
	if m.Summary != "" {
		head.Items = append(head.Items, text(m.Summary))
	}
	body := []CardElement{head}
	for _, d := range m.Details {
		body = append(body, text("- "+d))
	}
	for _, s := range m.Evidence {
		body = append(body, heading(s.Title))
		for _, l := range s.Lines {
			body = append(body, text("- "+l.Text))
			if l.Code != "" {
				code := text(strings.Join(strings.Split(l.Code, "\n"), "\n\n"))
				code.FontType, code.Size, code.Spacing = "Monospace", "Small", "None"
				body = append(body, code)
			}
		}
	}
	if len(m.Facts) > 0 {
		fs := CardElement{Type: "FactSet", Spacing: "Medium"}
		for _, f := range m.Facts {
			fs.Facts = append(fs.Facts, CardFact{Title: c.chars(f.Name, 100), Value: c.chars(f.Value, 500)})
		}
		body = append(body, fs)
	}
	for _, w := range m.Warnings {
		e := text("⚠️ " + w)
		e.Color = "Warning"
		body = append(body, e)
	}
	if m.Footer != "" {
		e := text(m.Footer)
		e.IsSubtle, e.Size, e.Spacing = true, "Small", "Medium"
		body = append(body, e)
	}
	var actions []CardAction
	for _, l := range m.Links {
		actions = append(actions, CardAction{Type: "Action.OpenUrl", Title: l.Text, URL: l.URL})
	}
	msg := TeamsMessage{
		Type: "message",
		Attachments: []TeamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: AdaptiveCard{
				Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
				MSTeams: &CardMSTeams{Width: "Full"}, Body: body, Actions: actions,
			},
		}},
	}
	c.over(jsonSize(msg) > teamsMaxBytes)
	return msg, c.cut
}
