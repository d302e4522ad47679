package notify

import (
	"html"
	"strings"
)

// GoogleChat renders a message for a Google Chat space's incoming webhook: text with the
// headline and the reason's summary (what notifications and previews show), and one cardsV2
// card with the evidence, the facts, warnings and link buttons. Card text uses the small HTML
// subset Google Chat cards accept (<b>, <font color>, <br>); every value is HTML-escaped.
//
// Google Chat cards have no colour bar; the outcome's emoji carries the colour, and evidence
// excerpts are shown in grey.
type GoogleChat struct{}

// GoogleChatMessage is the webhook body.
type GoogleChatMessage struct {
	Text    string           `json:"text"`
	CardsV2 []GoogleChatCard `json:"cardsV2,omitempty"`
}

// GoogleChatCard is one cardsV2 entry.
type GoogleChatCard struct {
	CardID string        `json:"cardId"`
	Card   GChatCardSpec `json:"card"`
}

// GChatCardSpec is the card.
type GChatCardSpec struct {
	Sections []GChatSection `json:"sections"`
}

// GChatSection is a card section with an optional header.
type GChatSection struct {
	Header  string        `json:"header,omitempty"`
	Widgets []GChatWidget `json:"widgets"`
}

// GChatWidget is one of textParagraph, decoratedText or buttonList.
type GChatWidget struct {
	TextParagraph *GChatText      `json:"textParagraph,omitempty"`
	DecoratedText *GChatDecorated `json:"decoratedText,omitempty"`
	ButtonList    *GChatButtons   `json:"buttonList,omitempty"`
}

// GChatText is a textParagraph.
type GChatText struct {
	Text string `json:"text"`
}

// GChatDecorated is a decoratedText (a labelled value).
type GChatDecorated struct {
	TopLabel string `json:"topLabel,omitempty"`
	Text     string `json:"text"`
	WrapText bool   `json:"wrapText,omitempty"`
}

// GChatButtons is a buttonList.
type GChatButtons struct {
	Buttons []GChatButton `json:"buttons"`
}

// GChatButton opens a link.
type GChatButton struct {
	Text    string       `json:"text"`
	OnClick GChatOnClick `json:"onClick"`
}

// GChatOnClick holds the link.
type GChatOnClick struct {
	OpenLink GChatOpenLink `json:"openLink"`
}

// GChatOpenLink is the URL.
type GChatOpenLink struct {
	URL string `json:"url"`
}

// Google Chat rejects messages over 32,000 bytes; keep a margin for the JSON envelope.
const (
	gchatMaxBytes    = 30000
	gchatTextChars   = 4000
	gchatWidgetChars = 4000
	gchatGrey        = "#6E7781"
)

// Render implements Renderer.
func (GoogleChat) Render(in Input) (any, error) {
	return fit(Compose(in.Result), buildGoogleChat), nil
}

func buildGoogleChat(m Message) (GoogleChatMessage, bool) {
	var c clamp
	para := func(s string) GChatWidget {
		return GChatWidget{TextParagraph: &GChatText{Text: c.chars(s, gchatWidgetChars)}}
	}
	text := "*" + m.Headline + "*"
	if m.Summary != "" {
		text += "\n" + m.Summary
	}
	var sections []GChatSection
	if len(m.Details) > 0 {
		s := GChatSection{}
		for _, d := range m.Details {
			s.Widgets = append(s.Widgets, para("• "+html.EscapeString(d)))
		}
		sections = append(sections, s)
	}
	for _, ev := range m.Evidence {
		s := GChatSection{Header: c.chars(html.EscapeString(ev.Title), 200)}
		for _, l := range ev.Lines {
			t := "• " + html.EscapeString(l.Text)
			if l.Code != "" {
				t += "<br><font color=\"" + gchatGrey + "\">" + strings.ReplaceAll(html.EscapeString(l.Code), "\n", "<br>") + "</font>"
			}
			s.Widgets = append(s.Widgets, para(t))
		}
		sections = append(sections, s)
	}
	if len(m.Facts) > 0 {
		s := GChatSection{Header: "Deployment"}
		for _, f := range m.Facts {
			s.Widgets = append(s.Widgets, GChatWidget{DecoratedText: &GChatDecorated{
				TopLabel: c.chars(html.EscapeString(f.Name), 100), Text: c.chars(html.EscapeString(f.Value), 500), WrapText: true,
			}})
		}
		sections = append(sections, s)
	}
	if len(m.Warnings) > 0 {
		s := GChatSection{Header: "Warnings"}
		for _, w := range m.Warnings {
			s.Widgets = append(s.Widgets, para("⚠️ "+html.EscapeString(w)))
		}
		sections = append(sections, s)
	}
	var tail []GChatWidget
	if len(m.Links) > 0 {
		var bs []GChatButton
		for _, l := range m.Links {
			bs = append(bs, GChatButton{Text: l.Text, OnClick: GChatOnClick{OpenLink: GChatOpenLink{URL: l.URL}}})
		}
		tail = append(tail, GChatWidget{ButtonList: &GChatButtons{Buttons: bs}})
	}
	if m.Footer != "" {
		tail = append(tail, para("<font color=\""+gchatGrey+"\">"+html.EscapeString(m.Footer)+"</font>"))
	}
	if len(tail) > 0 {
		sections = append(sections, GChatSection{Widgets: tail})
	}
	msg := GoogleChatMessage{Text: c.chars(text, gchatTextChars)}
	if len(sections) > 0 {
		msg.CardsV2 = []GoogleChatCard{{CardID: "greenlight-result", Card: GChatCardSpec{Sections: sections}}}
	}
	c.over(jsonSize(msg) > gchatMaxBytes)
	return msg, c.cut
}
