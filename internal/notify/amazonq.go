package notify

import (
	"regexp"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// AmazonQ renders the Amazon Q Developer in chat applications (formerly AWS Chatbot)
// custom-notification format, published as the SNS message to the chat topic that a Slack
// or Microsoft Teams channel configuration subscribes to. Messages that do not match the
// schema are dropped silently by the service, so the required fields are always set:
// version "1.0", source "custom", content.description.
//
// The description is client-markdown, which Amazon Q renders in the chat platform's own
// markdown; it is written in Slack's flavour (*bold*, `code`), as AWS's examples are.
//
// metadata.threadId is per deployment (a REGRESSED follow-up joins the thread of the
// deployment it follows), so that every new deployment is a new top-level message: a
// per-service thread would bury each later rollback inside an old thread.
type AmazonQ struct{}

// AmazonQMessage is the custom notification.
type AmazonQMessage struct {
	Version  string          `json:"version"`
	Source   string          `json:"source"`
	ID       string          `json:"id,omitempty"`
	Content  AmazonQContent  `json:"content"`
	Metadata AmazonQMetadata `json:"metadata"`
}

// AmazonQContent is what the channel shows.
type AmazonQContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

// AmazonQMetadata threads and classifies the notification.
type AmazonQMetadata struct {
	ThreadID          string            `json:"threadId,omitempty"`
	Summary           string            `json:"summary,omitempty"`
	EventType         string            `json:"eventType,omitempty"`
	RelatedResources  []string          `json:"relatedResources,omitempty"`
	AdditionalContext map[string]string `json:"additionalContext,omitempty"`
}

// Amazon Q's length limits are not documented [UNCONFIRMED]; these keep well inside what
// SNS (256 KB) and the chat platforms accept.
const (
	amazonQTitleChars       = 250
	amazonQDescriptionBytes = 8000
	amazonQSummaryChars     = 250
)

// Render implements Renderer.
func (AmazonQ) Render(in Input) (any, error) {
	r := in.Result
	m := Compose(r)
	msg := fit(m, func(m Message) (AmazonQMessage, bool) { return buildAmazonQ(r, m) })
	return msg, nil
}

func buildAmazonQ(r result.Result, m Message) (AmazonQMessage, bool) {
	var c clamp
	var d strings.Builder
	line := func(s string) { d.WriteString(s + "\n") }
	if m.Summary != "" {
		line("*Why:* " + qSafe(m.Summary))
	}
	for _, s := range m.Details {
		line("• " + qSafe(s))
	}
	for _, s := range m.Evidence {
		line("*" + qSafe(s.Title) + "*")
		for _, l := range s.Lines {
			line("• " + qSafe(l.Text))
			if l.Code != "" {
				line("```" + strings.ReplaceAll(qSafe(l.Code), "```", "'''") + "```")
			}
		}
	}
	for _, f := range m.Facts {
		v := qSafe(f.Value)
		if f.Name == "Image" || f.Name == "Previous image" {
			v = "`" + strings.ReplaceAll(v, "`", "'") + "`"
		}
		line("*" + f.Name + ":* " + v)
	}
	for _, w := range m.Warnings {
		line("⚠️ " + qSafe(w))
	}
	if m.Footer != "" {
		line("_" + qSafe(m.Footer) + "_")
	}
	var next []string
	for _, l := range m.Links {
		next = append(next, l.Text+": "+l.URL)
	}
	msg := AmazonQMessage{
		Version: "1.0",
		Source:  "custom",
		ID:      r.ID,
		Content: AmazonQContent{
			TextType:    "client-markdown",
			Title:       fixed(m.Headline, amazonQTitleChars),
			Description: c.text(strings.TrimRight(d.String(), "\n"), amazonQDescriptionBytes, byteLen),
			NextSteps:   next,
			Keywords:    keywords(r),
		},
		Metadata: AmazonQMetadata{
			ThreadID:          threadID(r),
			Summary:           fixed(strings.TrimPrefix(m.Headline, m.Style.Emoji+" "), amazonQSummaryChars),
			EventType:         m.Style.EventType,
			RelatedResources:  nonEmpty(r.ServiceDeploymentARN, r.ExecutionARN, r.TaskDefinitionARN),
			AdditionalContext: additionalContext(r),
		},
	}
	if msg.Content.Description == "" {
		msg.Content.Description = m.Headline // required in practice; never send it empty
	}
	return msg, c.cut
}

// qSafe keeps evidence text from becoming a Slack mention (<!channel>, <@U…>) when Amazon Q
// passes it through as markdown.
func qSafe(s string) string { return qMentions.Replace(s) }

var qMentions = strings.NewReplacer("<!", "<\u200b!", "<@", "<\u200b@", "<#", "<\u200b#")

var threadUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func threadID(r result.Result) string {
	id := r.ID
	if r.FollowUpOf != "" {
		id = r.FollowUpOf
	}
	return truncate("greenlight-"+threadUnsafe.ReplaceAllString(id, "-"), 128, byteLen)
}

func keywords(r result.Result) []string {
	ks := nonEmpty(string(r.Outcome), r.Environment, r.Cluster, r.Service)
	if r.Reason != nil && r.Reason.Kind != "" && string(r.Reason.Kind) != string(r.Outcome) {
		ks = append(ks, string(r.Reason.Kind))
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range ks {
		k = truncate(oneLine(k), 50, utf16Len)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func additionalContext(r result.Result) map[string]string {
	ctx := map[string]string{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			ctx[k] = truncate(v, 1024, byteLen)
		}
	}
	set("resultId", r.ID)
	set("outcome", string(r.Outcome))
	set("route", r.Route)
	set("environment", r.Environment)
	set("cluster", r.Cluster)
	set("service", r.Service)
	set("imageTag", r.Image.Tag)
	set("imageDigest", r.Image.Digest)
	if r.PreviousImage != nil {
		set("previousImageDigest", r.PreviousImage.Digest)
	}
	set("serviceDeploymentArn", r.ServiceDeploymentARN)
	set("executionArn", r.ExecutionARN)
	if r.Reason != nil {
		set("reasonKind", string(r.Reason.Kind))
	}
	set("followUpOf", r.FollowUpOf)
	return ctx
}

func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
