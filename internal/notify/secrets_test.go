package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// fakeSecrets answers GetSecretValue from a map and counts calls.
type fakeSecrets struct {
	values map[string]string
	errs   map[string]error
	calls  int
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	id := aws.ToString(in.SecretId)
	if err := f.errs[id]; err != nil {
		return nil, err
	}
	v, ok := f.values[id]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(v)}, nil
}

const (
	hookURL   = "https://hooks.slack.com" + secretPath
	arnPlain  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/slack-prod-AbCdEf"
	arnJSON   = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/teams-prod-AbCdEf"
	arnNoURL  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/bad-AbCdEf"
	arnNotURL = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/noturl-AbCdEf"
	arnDenied = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:other/denied-AbCdEf"
	arnThrot  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/throttled-AbCdEf"
	arnGone   = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/gone-AbCdEf"
	arnKey    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/signing-AbCdEf"
	arnShort  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/short-AbCdEf"
)

func newFakeSecrets() *fakeSecrets {
	return &fakeSecrets{
		values: map[string]string{
			arnPlain:  hookURL + "\n",
			arnJSON:   `{"url": "` + hookURL + `", "note": "Teams Workflows"}`,
			arnNoURL:  `{"webhook": "` + hookURL + `"}`,
			arnNotURL: "hooks.slack.com" + secretPath,
			arnKey:    `{"key": "0123456789abcdef0123456789abcdef"}`,
			arnShort:  "short",
		},
		errs: map[string]error{
			arnDenied: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"},
			arnThrot:  &smithy.GenericAPIError{Code: "ThrottlingException", Message: "rate exceeded"},
			arnGone:   &smithy.GenericAPIError{Code: "InvalidRequestException", Message: "marked for deletion"},
		},
	}
}

func TestSecretsWebhookURL(t *testing.T) {
	tests := []struct {
		arn       string
		wantErr   string // substring; "" means success
		retryable bool
	}{
		{arnPlain, "", false},
		{arnJSON, "", false},
		{arnNoURL, `without a "url" string`, false},
		{arnNotURL, "does not hold a webhook URL", false},
		{"arn:aws:secretsmanager:eu-west-1:111122223333:secret:greenlight/missing-AbCdEf", "does not exist: create it with `aws secretsmanager create-secret", false},
		{arnDenied, "may not read it", false},
		{arnGone, "deleted, scheduled for deletion", false},
		{arnThrot, "could not be read", true},
		{"", "no secret ARN", false},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			s := NewSecrets(newFakeSecrets(), 0, nil)
			u, err := s.WebhookURL(context.Background(), tt.arn)
			if tt.wantErr == "" {
				if err != nil || u.reveal() != hookURL {
					t.Fatalf("WebhookURL(%s) = %v, %v; want the URL", tt.arn, u, err)
				}
				return
			}
			var se *SecretError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("WebhookURL(%s) error = %v; want a SecretError containing %q", tt.arn, err, tt.wantErr)
			}
			if se.ARN != tt.arn || !strings.Contains(err.Error(), tt.arn) {
				t.Errorf("error %q does not name the secret %s", err, tt.arn)
			}
			if IsPermanent(err) == tt.retryable {
				t.Errorf("IsPermanent(%v) = %v; want %v", err, IsPermanent(err), !tt.retryable)
			}
			if strings.Contains(err.Error(), "s3cr3tT0k3n") {
				t.Errorf("error %q contains the secret's value", err)
			}
		})
	}
}

func TestSecretsCache(t *testing.T) {
	f := newFakeSecrets()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	s := NewSecrets(f, time.Minute, func() time.Time { return now })
	ctx := context.Background()
	for range 3 {
		if _, err := s.WebhookURL(ctx, arnPlain); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != 1 {
		t.Fatalf("3 reads within the TTL made %d GetSecretValue calls; want 1", f.calls)
	}
	now = now.Add(61 * time.Second)
	if _, err := s.WebhookURL(ctx, arnPlain); err != nil {
		t.Fatal(err)
	}
	if f.calls != 2 {
		t.Fatalf("a read after the TTL made %d calls in all; want 2", f.calls)
	}
	// Failures are not cached: a fixed secret works on the next read.
	_, _ = s.WebhookURL(ctx, arnThrot)
	delete(f.errs, arnThrot)
	f.values[arnThrot] = hookURL
	if _, err := s.WebhookURL(ctx, arnThrot); err != nil {
		t.Fatalf("after the throttling ended, WebhookURL = %v", err)
	}
}

func TestSecretsSigningKey(t *testing.T) {
	s := NewSecrets(newFakeSecrets(), 0, nil)
	k, err := s.SigningKey(context.Background(), arnKey)
	if err != nil || string(k) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("SigningKey(json) = %q, %v", k, err)
	}
	if _, err := s.SigningKey(context.Background(), arnShort); err == nil || !IsPermanent(err) {
		t.Fatalf("SigningKey(short) error = %v; want a permanent error", err)
	}
}

// TestWebhookURLRedacted: every way a URL can be printed redacts it.
func TestWebhookURLRedacted(t *testing.T) {
	u := mustURL(t, hookURL+"?sig=qu3ryS1g")
	k := SigningKey("0123456789abcdef-signing")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "url", u, "key", k, "group", slog.GroupValue(slog.Any("nested", u)))
	j, _ := json.Marshal(map[string]any{"u": u, "k": k})
	out := strings.Join([]string{
		buf.String(), string(j), u.String(), fmt.Sprintf("%v %+v %#v %s", u, u, u, u), fmt.Sprint(k), fmt.Sprintf("%#v %v", k, k),
	}, "\n")
	for _, leak := range []string{"s3cr3tT0k3n", "qu3ryS1g", secretPath, "signing"} {
		if strings.Contains(out, leak) {
			t.Errorf("printed forms contain %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(buf.String(), "https://hooks.slack.com/…redacted") {
		t.Errorf("log = %s; want the host kept for debugging", buf.String())
	}
}

func TestSignatureHeaders(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	at := time.Unix(1795000000, 0)
	h := SignatureHeaders([]byte("0123456789abcdef"), body, at, "x", "FAILED")
	if h.Get(TimestampHeader) != "1795000000" || h.Get(SignatureHeader) != Sign([]byte("0123456789abcdef"), "1795000000", body) {
		t.Errorf("SignatureHeaders = %v", h)
	}
	// The timestamp is signed: the same body at another time has another signature.
	if Sign([]byte("0123456789abcdef"), "1795000001", body) == h.Get(SignatureHeader) {
		t.Error("the signature does not cover the timestamp")
	}
	unsigned := SignatureHeaders(nil, body, at, "x", "FAILED")
	if unsigned.Get(SignatureHeader) != "" || unsigned.Get(TimestampHeader) == "" {
		t.Errorf("SignatureHeaders without a key = %v; want a timestamp and no signature", unsigned)
	}
}
