package notify_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Every renderer draws the same Message: outcome first, then the reason's summary verbatim.
func ExampleCompose() {
	m := notify.Compose(result.Result{
		ID: "b3c1f0d2/prod/web", Outcome: result.RolledBack, Environment: "prod", Cluster: "prod", Service: "web",
		Image:  result.Image{Repository: "web", Tag: "v1.4.2", Digest: "sha256:7f5b2640fe6fb4a0f8e2a7c3d9e1b5f6"},
		Reason: &result.Reason{Kind: result.KindSmokeTestFailed, Summary: `rolled back: smoke test "health" failed: GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms`},
	})
	fmt.Println(m.Headline)
	fmt.Println(m.Summary)
	fmt.Println(m.Facts[1].Name+":", m.Facts[1].Value)
	// Output:
	// ⏪ Rolled back: web (prod)
	// rolled back: smoke test "health" failed: GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms
	// Image: web:v1.4.2@7f5b2640fe6f
}

// A receiver of the generic webhook checks the signature over timestamp and body, and
// refuses old timestamps.
func ExampleVerify() {
	key := []byte("whsec_0123456789abcdef")
	body := []byte(`{"version":1,"id":"b3c1f0d2/prod/web","outcome":"ROLLED_BACK"}`)
	sent := time.Unix(1795000000, 0)
	h := notify.SignatureHeaders(key, body, sent, "b3c1f0d2/prod/web", "ROLLED_BACK")

	fmt.Println(notify.Verify(key, h, body, sent.Add(30*time.Second), 5*time.Minute))
	fmt.Println(notify.Verify(key, h, []byte(`{"tampered":true}`), sent, 5*time.Minute))
	fmt.Println(notify.Verify(key, h, body, sent.Add(time.Hour), 5*time.Minute))
	fmt.Println(notify.Verify(key, http.Header{}, body, sent, 5*time.Minute))
	// Output:
	// <nil>
	// X-Greenlight-Signature does not match the body
	// X-Greenlight-Timestamp is too far from now
	// no X-Greenlight-Signature or X-Greenlight-Timestamp header
}
