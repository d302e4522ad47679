package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Webhook renders the generic JSON webhook: the body is the Result JSON itself, exactly as
// published (compacted), so receivers read the same contract as SNS and EventBridge
// subscribers. SignatureHeaders signs it.
type Webhook struct{}

// Render implements Renderer. Its payload is a json.RawMessage.
func (Webhook) Render(in Input) (any, error) {
	if len(in.Raw) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, in.Raw); err != nil {
			return nil, fmt.Errorf("webhook body: the result is not valid JSON: %w", err)
		}
		return json.RawMessage(buf.Bytes()), nil
	}
	b, err := json.Marshal(in.Result)
	if err != nil {
		return nil, fmt.Errorf("webhook body: %w", err)
	}
	return json.RawMessage(b), nil
}

// Webhook headers.
const (
	// SignatureHeader is "sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>".
	SignatureHeader = "X-Greenlight-Signature"
	// TimestampHeader is the signing time in Unix seconds; it is part of what is signed, so
	// a receiver can refuse replays older than a few minutes.
	TimestampHeader = "X-Greenlight-Timestamp"
	// ResultIDHeader is the result's ID: receivers can deduplicate on it.
	ResultIDHeader = "X-Greenlight-Result-Id"
	// OutcomeHeader is the result's outcome, for routing without parsing the body.
	OutcomeHeader = "X-Greenlight-Outcome"
)

// Sign returns the X-Greenlight-Signature value for body signed at timestamp (Unix seconds,
// as sent in X-Greenlight-Timestamp).
func Sign(key []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeaders returns the webhook's headers. With no key the request is sent unsigned
// (no X-Greenlight-Signature), and receivers that require one will refuse it.
func SignatureHeaders(key []byte, body []byte, at time.Time, resultID, outcome string) http.Header {
	h := http.Header{}
	ts := strconv.FormatInt(at.Unix(), 10)
	h.Set(TimestampHeader, ts)
	if len(key) > 0 {
		h.Set(SignatureHeader, Sign(key, ts, body))
	}
	if resultID != "" {
		h.Set(ResultIDHeader, resultID)
	}
	if outcome != "" {
		h.Set(OutcomeHeader, outcome)
	}
	return h
}

// Errors Verify returns.
var (
	ErrNoSignature  = errors.New("no X-Greenlight-Signature or X-Greenlight-Timestamp header")
	ErrBadSignature = errors.New("X-Greenlight-Signature does not match the body")
	ErrStale        = errors.New("X-Greenlight-Timestamp is too far from now")
)

// Verify checks a received webhook the way a receiver should: the signature over timestamp
// and body, in constant time, and the timestamp within tolerance of now.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sig, ts := h.Get(SignatureHeader), h.Get(TimestampHeader)
	if sig == "" || ts == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrStale, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(key, ts, body))) {
		return ErrBadSignature
	}
	return nil
}
