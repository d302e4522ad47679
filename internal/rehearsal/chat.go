package rehearsal

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// ChatMessage is one message the local webhook receiver got, rendered to text.
type ChatMessage struct {
	Channel string    `json:"channel"`
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Text    string    `json:"text"`
	// Body is the payload as posted (Slack Block Kit, Teams card, the result JSON …).
	Body json.RawMessage `json:"-"`
}

// chatReceiver stands in for Slack, Teams, Google Chat, Discord or a webhook: the notify
// function posts to it (its URL is the webhook URL stored in Secrets Manager).
type chatReceiver struct {
	url string
	srv *http.Server
	log *os.File

	mu    sync.Mutex
	types map[string]string
	got   []ChatMessage
	// fail makes every post to a channel fail with this HTTP status (chat-down);
	// attempts counts every post per channel, failed ones included.
	fail     map[string]int
	attempts map[string]int
}

func startReceiver(dir string) (*chatReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "chat.log"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	c := &chatReceiver{url: "http://" + ln.Addr().String(), log: f, types: map[string]string{}, fail: map[string]int{}, attempts: map[string]int{}}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *chatReceiver) expect(channel, typ string) {
	c.mu.Lock()
	c.types[channel] = typ
	c.mu.Unlock()
}

func (c *chatReceiver) serve(w http.ResponseWriter, r *http.Request) {
	channel, ok := strings.CutPrefix(r.URL.Path, "/chat/")
	if r.Method != http.MethodPost || !ok {
		http.NotFound(w, r)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.attempts[channel]++
	if status := c.fail[channel]; status != 0 {
		_, _ = c.log.Write([]byte(channel + " " + time.Now().Format(time.RFC3339Nano) + " answered HTTP " + strconv.Itoa(status) + " (fault injection)\n"))
		c.mu.Unlock()
		if status == http.StatusTooManyRequests || status >= 500 {
			// As a platform shedding load says when to come back: soon, so the notifier's
			// retries within one invocation take a fraction of a second.
			w.Header().Set("Retry-After", "0.05")
		}
		http.Error(w, "the rehearsal's chat receiver is down (fault injection)", status)
		return
	}
	typ := c.types[channel]
	m := ChatMessage{Channel: channel, Type: typ, At: time.Now(), Body: b, Text: renderChat(typ, b)}
	c.got = append(c.got, m)
	_, _ = c.log.Write(append(append([]byte(channel+" "+m.At.Format(time.RFC3339Nano)+" "), b...), '\n'))
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok"))
}

// since returns the messages received from i on, and the new count.
func (c *chatReceiver) since(i int) ([]ChatMessage, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i > len(c.got) {
		i = len(c.got)
	}
	return append([]ChatMessage(nil), c.got[i:]...), len(c.got)
}

// failWith makes every post to the channels fail with their status (nil: none fails), and
// clears the attempt counts.
func (c *chatReceiver) failWith(status map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail, c.attempts = map[string]int{}, map[string]int{}
	for k, v := range status {
		c.fail[k] = v
	}
}

// tries returns the posts per channel since failWith, failed ones included.
func (c *chatReceiver) tries() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.attempts)
}

func (c *chatReceiver) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *chatReceiver) close() {
	_ = c.srv.Close()
	_ = c.log.Close()
}

var (
	slackLink  = regexp.MustCompile(`<([^|>]+)\|([^>]+)>`)
	slackUnesc = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// renderChat turns a chat payload into plain text: Slack's blocks line by line; the generic
// webhook's result through the notifier's own message composition; other platforms' text
// fields in order.
func renderChat(typ string, body []byte) string {
	switch typ {
	case "slack":
		var m notify.SlackMessage
		if err := json.Unmarshal(body, &m); err == nil && len(m.Blocks) > 0 {
			var lines []string
			add := func(s string) {
				s = slackLink.ReplaceAllString(s, "$2") // links point at the AWS console: their text is enough here
				s = slackUnesc.Replace(s)
				s = strings.ReplaceAll(s, "```", "")
				for _, l := range strings.Split(s, "\n") {
					if l = strings.TrimRight(l, " "); l != "" {
						lines = append(lines, strings.Trim(l, "*"))
					}
				}
			}
			for _, bl := range m.Blocks {
				if bl.Text != nil {
					add(bl.Text.Text)
				}
				var fields []string
				for _, f := range bl.Fields {
					name, value, _ := strings.Cut(f.Text, "\n")
					fields = append(fields, strings.Trim(name, "*")+": "+value)
				}
				if len(fields) > 0 {
					add(strings.Join(fields, " · "))
				}
				for _, e := range bl.Elements {
					add(e.Text)
				}
			}
			return strings.Join(lines, "\n")
		}
	case "webhook":
		var r result.Result
		if err := json.Unmarshal(body, &r); err == nil && r.ID != "" {
			m := notify.Compose(r)
			lines := []string{m.Headline}
			if m.Summary != "" {
				lines = append(lines, m.Summary)
			}
			for _, f := range m.Facts {
				lines = append(lines, f.Name+": "+f.Value)
			}
			return strings.Join(lines, "\n")
		}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return strings.TrimSpace(string(body))
	}
	var lines []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range []string{"title", "text", "content", "description", "subtitle", "name", "value"} {
				if s, ok := x[k].(string); ok && strings.TrimSpace(s) != "" {
					lines = append(lines, strings.TrimSpace(s))
				}
			}
			for k, e := range x {
				if _, isStr := e.(string); !isStr || k == "" {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return strings.Join(lines, "\n")
}
