package awsenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func load(t *testing.T, optFns ...func(*config.LoadOptions) error) aws.Config {
	t.Helper()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	opts := append([]func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
	}, optFns...)
	cfg, err := Load(context.Background(), func(string) string { return "" }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadBoundsEachAttempt(t *testing.T) {
	c, ok := load(t).HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("HTTPClient is %T, want the SDK's BuildableClient", load(t).HTTPClient)
	}
	if got := c.GetTimeout(); got != AttemptTimeout {
		t.Errorf("attempt timeout = %v, want %v", got, AttemptTimeout)
	}
	if n := load(t).RetryMaxAttempts; n != MaxAttempts {
		t.Errorf("RetryMaxAttempts = %d, want %d", n, MaxAttempts)
	}
}

// TestTimedOutAttemptIsRetried is the property AttemptTimeout relies on: an attempt cut off by
// the client's timeout is retried by the SDK like a dropped connection, not returned.
func TestTimedOutAttemptIsRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only after the body
		if calls.Add(1) == 1 {
			select { // does not answer; the client gives up and closes the connection
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"TableNames":["greenlight-ledger"]}`))
	}))
	defer srv.Close()

	cfg := load(t, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(200*time.Millisecond)))
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	out, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables after one hung attempt: %v", err)
	}
	if len(out.TableNames) != 1 || calls.Load() != 2 {
		t.Errorf("tables %v after %d attempts, want 1 table after 2", out.TableNames, calls.Load())
	}
}

func TestCloudWatchProtocol(t *testing.T) {
	for _, v := range []string{"", "query", "json"} {
		if _, err := CloudWatchOptions(func(string) string { return v }); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	if _, err := CloudWatchOptions(func(string) string { return "cbor" }); err == nil {
		t.Error(`"cbor" accepted; want an error naming the allowed values`)
	}
}
