package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// WebhookURL is a chat webhook URL. Whoever holds it can post to the channel, so it is a
// secret: String, LogValue, GoString and MarshalJSON all redact it to scheme and host
// ("https://hooks.slack.com/…redacted"). Only the delivery code reads the real URL.
type WebhookURL struct {
	raw    string
	host   string
	scheme string
}

// ParseWebhookURL validates an absolute http(s) URL. Its errors never contain the URL.
func ParseWebhookURL(s string) (WebhookURL, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return WebhookURL{}, errors.New("not an absolute http(s) URL")
	}
	return WebhookURL{raw: s, host: u.Host, scheme: u.Scheme}, nil
}

// String is the redacted form.
func (u WebhookURL) String() string {
	if u.raw == "" {
		return ""
	}
	return u.scheme + "://" + u.host + "/…redacted"
}

// GoString is the redacted form (%#v).
func (u WebhookURL) GoString() string { return "notify.WebhookURL(" + u.String() + ")" }

// LogValue redacts the URL in every slog record.
func (u WebhookURL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// MarshalJSON redacts the URL in any JSON.
func (u WebhookURL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// Host is the URL's host, which is not secret.
func (u WebhookURL) Host() string { return u.host }

// IsZero reports whether no URL is set.
func (u WebhookURL) IsZero() bool { return u.raw == "" }

// reveal is the real URL, for the HTTP request only.
func (u WebhookURL) reveal() string { return u.raw }

// redactIn replaces the URL, its path and its query wherever they occur in s.
func (u WebhookURL) redactIn(s string) string {
	if u.raw == "" {
		return s
	}
	s = strings.ReplaceAll(s, u.raw, u.String())
	if p, err := url.Parse(u.raw); err == nil {
		for _, part := range []string{p.EscapedPath(), p.Path, p.RawQuery} {
			if len(part) > 1 {
				s = strings.ReplaceAll(s, part, "/…redacted")
			}
		}
	}
	return s
}

// SigningKey is the generic webhook's HMAC key; it redacts itself like WebhookURL.
type SigningKey []byte

// String redacts the key.
func (k SigningKey) String() string { return "REDACTED" }

// LogValue redacts the key.
func (k SigningKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// GoString redacts the key.
func (k SigningKey) GoString() string { return "notify.SigningKey(REDACTED)" }

// MarshalJSON redacts the key.
func (k SigningKey) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// SecretError says which secret could not be used, why, and what to do. It never contains
// the secret's value.
type SecretError struct {
	ARN     string
	Problem string
	Fix     string
	// Retryable is true for transient failures (throttling, network): a later try may work.
	Retryable bool
	Err       error
}

func (e *SecretError) Error() string {
	s := "secret " + e.ARN + ": " + e.Problem
	if e.Fix != "" {
		s += ": " + e.Fix
	}
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *SecretError) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed.
func (e *SecretError) Temporary() bool { return e.Retryable }

type secretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// DefaultSecretTTL is how long a secret read stays cached in the process.
const DefaultSecretTTL = 5 * time.Minute

// Secrets reads webhook URLs and signing keys from Secrets Manager and caches them per
// process for TTL.
type Secrets struct {
	client secretsAPI
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	value string
	at    time.Time
}

// NewSecrets returns a cache in front of client; ttl 0 means DefaultSecretTTL.
func NewSecrets(client secretsAPI, ttl time.Duration, now func() time.Time) *Secrets {
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Secrets{client: client, ttl: ttl, now: now, cache: map[string]cachedSecret{}}
}

// WebhookURL returns the URL held by the secret: the whole secret string, or its "url" key
// when the string is a JSON object.
func (s *Secrets) WebhookURL(ctx context.Context, arn string) (WebhookURL, error) {
	v, err := s.get(ctx, arn)
	if err != nil {
		return WebhookURL{}, err
	}
	raw := strings.TrimSpace(v)
	if strings.HasPrefix(raw, "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(raw), &obj) != nil {
			return WebhookURL{}, &SecretError{ARN: arn, Problem: "the secret string starts with { but is not valid JSON", Fix: "store the webhook URL itself, or JSON {\"url\": \"https://…\"}"}
		}
		u, _ := obj["url"].(string)
		if u == "" {
			return WebhookURL{}, &SecretError{ARN: arn, Problem: "the secret is JSON without a \"url\" string", Fix: "store the webhook URL itself, or JSON {\"url\": \"https://…\"}"}
		}
		raw = u
	}
	w, err := ParseWebhookURL(raw)
	if err != nil {
		return WebhookURL{}, &SecretError{ARN: arn, Problem: "the secret does not hold a webhook URL (" + err.Error() + ")", Fix: "store the webhook URL itself, or JSON {\"url\": \"https://…\"}"}
	}
	return w, nil
}

// SigningKey returns the HMAC key held by the secret: the whole secret string, or its "key"
// key when the string is a JSON object.
func (s *Secrets) SigningKey(ctx context.Context, arn string) (SigningKey, error) {
	v, err := s.get(ctx, arn)
	if err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(v)
	if strings.HasPrefix(raw, "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(raw), &obj) == nil {
			if k, _ := obj["key"].(string); k != "" {
				raw = k
			}
		}
	}
	if len(raw) < 16 {
		return nil, &SecretError{ARN: arn, Problem: "the signing key is shorter than 16 characters", Fix: "store a random key, e.g. `openssl rand -hex 32`"}
	}
	return SigningKey(raw), nil
}

func (s *Secrets) get(ctx context.Context, arn string) (string, error) {
	if arn == "" {
		return "", &SecretError{Problem: "no secret ARN", Fix: "set webhookSecretArn on the channel in the routes document"}
	}
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[arn]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < s.ttl {
		return c.value, nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", classifySecretError(arn, err)
	}
	v := aws.ToString(out.SecretString)
	if strings.TrimSpace(v) == "" {
		return "", &SecretError{ARN: arn, Problem: "the secret has no secret string (empty, or binary)", Fix: "aws secretsmanager put-secret-value --secret-id " + arn + " --secret-string '<value>'"}
	}
	s.mu.Lock()
	s.cache[arn] = cachedSecret{value: v, at: now}
	s.mu.Unlock()
	return v, nil
}

func classifySecretError(arn string, err error) error {
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return &SecretError{ARN: arn, Problem: "does not exist", Fix: "create it with `aws secretsmanager create-secret --name greenlight/<channel> --secret-string '<webhook URL>'` and put its ARN in the routes channel", Err: err}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "AccessDenied":
			return &SecretError{ARN: arn, Problem: "the notifier may not read it", Fix: "the template grants secretsmanager:GetSecretValue on secrets under its name prefix (default greenlight/): name the secret greenlight/<channel>, or change the prefix parameter", Err: err}
		case "DecryptionFailure", "KMSAccessDeniedException":
			return &SecretError{ARN: arn, Problem: "cannot be decrypted", Fix: "grant the notifier's role kms:Decrypt on the secret's KMS key, or use the default aws/secretsmanager key", Err: err}
		case "InvalidRequestException", "InvalidParameterException", "ValidationException":
			return &SecretError{ARN: arn, Problem: "cannot be read (deleted, scheduled for deletion, or a malformed ARN)", Fix: "restore it or store a new one, and put its ARN in the routes channel", Err: err}
		}
	}
	return &SecretError{ARN: arn, Problem: "could not be read", Retryable: true, Err: err}
}
