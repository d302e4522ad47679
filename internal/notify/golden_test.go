package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/<renderer>/")

// goldenCases are the fixture results in testdata/results, one per outcome case.
var goldenCases = []string{
	"succeeded", "rolled-back-smoke", "rolled-back-alarm", "rolled-back-canary", "failed", "blocked", "superseded", "regressed",
}

// goldenRenderers are every renderer, by golden directory name.
var goldenRenderers = map[string]Renderer{
	"slack":      Slack{},
	"teams":      Teams{},
	"googlechat": GoogleChat{},
	"discord":    Discord{},
	"webhook":    Webhook{},
	"amazonq":    AmazonQ{},
}

// fixedClock is the signing time in the webhook goldens.
var fixedClock = time.Date(2026, 11, 20, 10, 10, 0, 0, time.UTC)

var goldenSigningKey = []byte("test-signing-key")

// loadResult reads testdata/results/<name>.json, rejecting fields the Result contract lacks.
func loadResult(t testing.TB, name string) (result.Result, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "results", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r result.Result
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return r, raw
}

// renderGolden renders a fixture as its golden file holds it: the payload, pretty; for the
// webhook, the signed headers and the body.
func renderGolden(t testing.TB, renderer string, r result.Result, raw []byte) []byte {
	t.Helper()
	p, err := goldenRenderers[renderer].Render(Input{Result: r, Raw: raw})
	if err != nil {
		t.Fatalf("%s.Render(%s) error: %v", renderer, r.ID, err)
	}
	if renderer == "webhook" {
		body, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		h := SignatureHeaders(goldenSigningKey, body, fixedClock, r.ID, string(r.Outcome))
		flat := map[string]string{}
		for k := range h {
			flat[k] = h.Get(k)
		}
		p = struct {
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		}{flat, body}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden compares every renderer's payload for every outcome case with
// testdata/<renderer>/<case>.golden, byte for byte. Regenerate with
// go test ./internal/notify/... -update, and read the diff.
func TestGolden(t *testing.T) {
	for renderer := range goldenRenderers {
		for _, c := range goldenCases {
			t.Run(renderer+"/"+c, func(t *testing.T) {
				r, raw := loadResult(t, c)
				got := renderGolden(t, renderer, r, raw)
				if bytes.Contains(got, []byte(TruncationMarker)) {
					t.Errorf("%s cut the ordinary %s result; only oversized results may be truncated", renderer, c)
				}
				path := filepath.Join("testdata", renderer, c+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/notify/... -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s rendering of %s differs from %s (run with -update and review the diff):\n%s", renderer, c, path, firstDiff(got, want))
				}
			})
		}
	}
}

// firstDiff shows the first differing line of two renderings.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + string(gl) + "\nwant: " + string(wl)
		}
	}
	return "(no line differs)"
}
