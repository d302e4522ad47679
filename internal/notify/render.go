package notify

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Input is what a renderer renders.
type Input struct {
	Result result.Result
	// Raw is the result JSON as published; the generic webhook forwards it unchanged, so
	// fields added to the contract later reach receivers even through an older notifier.
	Raw json.RawMessage
}

// Renderer builds one platform's payload (a JSON-encodable vendor struct) for a result. It
// never fails on content: texts over the platform's limits are cut with TruncationMarker.
type Renderer interface {
	Render(in Input) (any, error)
}

// Renderers are the channel types of the routes document (routes.ChannelTypes).
var Renderers = map[string]Renderer{
	"slack":      Slack{},
	"teams":      Teams{},
	"googlechat": GoogleChat{},
	"discord":    Discord{},
	"webhook":    Webhook{},
}

// RendererFor returns the renderer for a channel type.
func RendererFor(channelType string) (Renderer, error) {
	r, ok := Renderers[channelType]
	if !ok {
		return nil, fmt.Errorf("channel type %q has no renderer: use slack, teams, googlechat, discord or webhook", channelType)
	}
	return r, nil
}

// fit renders m at shrink level 0, 1, … until build reports that nothing had to be cut, and
// returns the last rendering (the smallest) otherwise.
func fit[P any](m Message, build func(Message) (P, bool)) P {
	var p P
	for level := 0; level <= maxShrink; level++ {
		var cut bool
		p, cut = build(m.shrink(level))
		if !cut {
			return p
		}
	}
	return p
}

// clamp applies hard limits and remembers whether it had to.
type clamp struct{ cut bool }

func (c *clamp) text(s string, max int, m measure) string {
	t := truncate(s, max, m)
	if t != s {
		c.cut = true
	}
	return t
}

func (c *clamp) chars(s string, max int) string { return c.text(s, max, utf16Len) }

// fixed truncates a text that shrinking the message cannot shorten (the headline, the
// fallback text): it is cut in place and does not ask for a smaller rendering.
func fixed(s string, max int) string { return truncateChars(s, max) }

func (c *clamp) over(cond bool) {
	if cond {
		c.cut = true
	}
}

// Encode is how payloads go on the wire: JSON without HTML escaping (so "<" stays "<" and
// sizes are what the platform counts), no trailing newline.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// jsonSize is the encoded size of a payload in bytes.
func jsonSize(v any) int {
	b, err := Encode(v)
	if err != nil {
		return 1 << 30
	}
	return len(b)
}
