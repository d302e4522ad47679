package smoketest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

func check(t *testing.T, js string) routes.Check {
	t.Helper()
	var c routes.Check
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name  string
		check string
		resp  response
		want  string // joined failures; "" = pass
	}{
		{"default status 2xx", `{"path":"/"}`, response{status: 204}, ""},
		{"default status rejects 302", `{"path":"/"}`, response{status: 302}, "status 302, want 2xx"},
		{"exact status", `{"path":"/","expectStatus":200}`, response{status: 201}, "status 201, want 200"},
		{"status set", `{"path":"/","expectStatus":[200,204]}`, response{status: 204}, ""},
		{"status range", `{"path":"/","expectStatus":"200-399"}`, response{status: 302}, ""},
		{"latency", `{"path":"/","maxLatencyMs":100}`, response{status: 200, latency: 150 * time.Millisecond}, "took 150 ms, max 100 ms"},
		{"latency at the limit passes", `{"path":"/","maxLatencyMs":100}`, response{status: 200, latency: 100 * time.Millisecond}, ""},
		{"body contains", `{"path":"/","bodyContains":"OK"}`, response{status: 200, body: []byte("all OK")}, ""},
		{"body lacks", `{"path":"/","bodyContains":"OK"}`, response{status: 200, body: []byte("FAIL")}, `body does not contain "OK"`},
		{"body lacks, truncated", `{"path":"/","bodyContains":"OK"}`, response{status: 200, body: []byte("x"), truncated: true}, `body does not contain "OK" in its first 64 KiB`},
		{"json equals", `{"path":"/","jsonEquals":{"status":"ok","build.number":7,"items.1.id":"b","ready":true,"meta":null}}`,
			response{status: 200, body: []byte(`{"status":"ok","build":{"number":7.0},"items":[{"id":"a"},{"id":"b"}],"ready":true,"meta":null}`)}, ""},
		{"json differs", `{"path":"/","jsonEquals":{"status":"ok","build.number":7}}`,
			response{status: 200, body: []byte(`{"status":"down","build":{"number":"7"}}`)}, `build.number is "7", want 7; status is "down", want "ok"`},
		{"json missing", `{"path":"/","jsonEquals":{"items.5.id":"x","a.b":1}}`,
			response{status: 200, body: []byte(`{"items":[],"a":3}`)}, `a.b is missing, want 1; items.5.id is missing, want "x"`},
		{"json objects compare structurally", `{"path":"/","jsonEquals":{"v":{"major":1,"tags":["a"]}}}`,
			response{status: 200, body: []byte(`{"v":{"tags":["a"],"major":1}}`)}, ""},
		{"not json", `{"path":"/","jsonEquals":{"a":1}}`, response{status: 200, body: []byte("<html>")}, "body is not JSON: invalid character '<' looking for beginning of value"},
		{"json too large", `{"path":"/","jsonEquals":{"a":1}}`, response{status: 200, truncated: true}, "body is larger than 64 KiB: jsonEquals not checked"},
		{"everything wrong at once", `{"path":"/","expectStatus":200,"bodyContains":"OK","maxLatencyMs":10}`,
			response{status: 500, body: []byte("FAIL"), latency: 20 * time.Millisecond}, `status 500, want 200; took 20 ms, max 10 ms; body does not contain "OK"`},
		{"refused redirect", `{"path":"/"}`, response{status: 302, redirect: "redirect to http://x/ not followed (another host)"}, "status 302, want 2xx; redirect to http://x/ not followed (another host)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(evaluate(check(t, tt.check), tt.resp), "; ")
			if got != tt.want {
				t.Errorf("evaluate() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want int // length in bytes
	}{
		{"short", []byte("FAIL"), 4},
		{"exactly the limit", []byte(strings.Repeat("a", result.MaxBodyExcerpt)), result.MaxBodyExcerpt},
		{"long ASCII", []byte(strings.Repeat("a", 10_000)), result.MaxBodyExcerpt},
		{"multi-byte runes cut on a boundary", []byte(strings.Repeat("한", 1000)), 510},
		{"invalid UTF-8 replaced (one U+FFFD per run)", append([]byte("ok "), 0xff, 0xfe, 'x'), 7},
	} {
		got := excerpt(tc.body)
		if len(got) != tc.want || !utf8.ValidString(got) || len(got) > result.MaxBodyExcerpt {
			t.Errorf("%s: excerpt is %d bytes (valid %v); want %d valid bytes", tc.name, len(got), utf8.ValidString(got), tc.want)
		}
	}
}
