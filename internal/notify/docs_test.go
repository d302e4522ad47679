package notify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docCases label the outcome cases in the user documentation.
var docCases = []struct{ name, en, ko string }{
	{"succeeded", "SUCCEEDED", "SUCCEEDED (성공)"},
	{"rolled-back-smoke", "ROLLED_BACK by a smoke test", "ROLLED_BACK (스모크 테스트 실패로 롤백)"},
	{"rolled-back-alarm", "ROLLED_BACK by the 5xx alarm", "ROLLED_BACK (5xx 알람으로 롤백)"},
	{"failed", "FAILED", "FAILED (실패)"},
	{"blocked", "BLOCKED", "BLOCKED (배포 차단)"},
	{"superseded", "SUPERSEDED", "SUPERSEDED (더 새로운 푸시로 대체)"},
	{"regressed", "REGRESSED", "REGRESSED (배포 후 회귀)"},
}

// docExamples renders every outcome case as Amazon Q Developer shows it, with links to each
// platform's golden payload.
func docExamples(t *testing.T, ko bool) string {
	t.Helper()
	var b strings.Builder
	rel, payloads := "../internal/notify/testdata/", "Payloads"
	if ko {
		rel, payloads = "../../internal/notify/testdata/", "페이로드"
	}
	for _, c := range docCases {
		r, _ := loadResult(t, c.name)
		p, _ := AmazonQ{}.Render(Input{Result: r}) // what testdata/amazonq/<case>.golden holds
		q := p.(AmazonQMessage)
		label := c.en
		if ko {
			label = c.ko
		}
		fmt.Fprintf(&b, "#### %s\n\n````text\n%s\n%s\n", label, q.Content.Title, q.Content.Description)
		for _, s := range q.Content.NextSteps {
			text, _, _ := strings.Cut(s, ": ")
			fmt.Fprintf(&b, "→ %s\n", text)
		}
		b.WriteString("````\n\n" + payloads + ": ")
		var links []string
		for _, p := range []struct{ dir, name string }{{"slack", "Slack"}, {"teams", "Teams"}, {"googlechat", "Google Chat"}, {"discord", "Discord"}, {"webhook", "webhook"}, {"amazonq", "Amazon Q"}} {
			links = append(links, fmt.Sprintf("[%s](%s%s/%s.golden)", p.name, rel, p.dir, c.name))
		}
		b.WriteString(strings.Join(links, " · ") + "\n\n")
	}
	return b.String()
}

// TestDocsShowGoldens keeps the examples in docs/chat.md and docs/ko/chat.md equal to the
// golden files; -update rewrites them.
func TestDocsShowGoldens(t *testing.T) {
	for _, d := range []struct {
		path string
		ko   bool
	}{{filepath.Join("..", "..", "docs", "chat.md"), false}, {filepath.Join("..", "..", "docs", "ko", "chat.md"), true}} {
		doc, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		const begin, end = "<!-- examples:begin", "<!-- examples:end -->"
		i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
		if i < 0 || j < i {
			t.Fatalf("%s has no %s … %s block", d.path, begin, end)
		}
		i += bytes.IndexByte(doc[i:], '\n') + 1
		want := "\n" + docExamples(t, d.ko)
		if *update {
			out := append(append(append([]byte{}, doc[:i]...), want...), doc[j:]...)
			if err := os.WriteFile(d.path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got := string(doc[i:j]); got != want {
			t.Errorf("the examples in %s differ from the golden files: run go test ./internal/notify/... -update", d.path)
		}
	}
}
