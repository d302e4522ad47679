package localaws

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// firstThen answers the first request with first and every later one with a table list.
type firstThen struct {
	calls atomic.Int32
	first func() *http.Response
}

func (f *firstThen) Do(r *http.Request) (*http.Response, error) {
	if f.calls.Add(1) == 1 {
		return f.first(), nil
	}
	return jsonResponse(200, io.NopCloser(strings.NewReader(`{"TableNames":["ledger"]}`))), nil
}

func jsonResponse(code int, body io.ReadCloser) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}}, Body: body}
}

// closedConnBody fails as a body read does when Go's transport has closed the connection
// under it, the failure seen against moto under load (aws/aws-sdk-go-v2#2737).
type closedConnBody struct{}

func (closedConnBody) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
}
func (closedConnBody) Close() error { return nil }

// TestConfigRetriesOnlyConnectionErrors: a response lost with its connection is tried again;
// an API error from the endpoint reaches the caller after one attempt.
func TestConfigRetriesOnlyConnectionErrors(t *testing.T) {
	cases := []struct {
		name      string
		first     func() *http.Response
		wantCalls int32
		wantErr   string
	}{
		{"200 whose body read hits a closed connection", func() *http.Response {
			return jsonResponse(200, closedConnBody{})
		}, 2, ""},
		{"HTTP 500 from moto", func() *http.Response {
			return jsonResponse(500, io.NopCloser(strings.NewReader(`{"__type":"InternalFailure","message":"not implemented"}`)))
		}, 1, "InternalFailure"},
		{"throttled", func() *http.Response {
			return jsonResponse(400, io.NopCloser(strings.NewReader(`{"__type":"ThrottlingException","message":"slow down"}`)))
		}, 1, "ThrottlingException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config(context.Background(), "http://127.0.0.1:1", "")
			if err != nil {
				t.Fatal(err)
			}
			hc := &firstThen{first: tc.first}
			cfg.HTTPClient = hc
			_, err = dynamodb.NewFromConfig(cfg).ListTables(context.Background(), &dynamodb.ListTablesInput{})
			if got := hc.calls.Load(); got != tc.wantCalls {
				t.Errorf("%d attempts, want %d (err %v)", got, tc.wantCalls, err)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ListTables: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("ListTables error %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestConfigDoesNotKeepConnectionsAlive(t *testing.T) {
	cfg, err := Config(context.Background(), "http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok || !c.GetTransport().DisableKeepAlives {
		t.Errorf("HTTP client %T keeps connections alive; want a new connection per call to moto", cfg.HTTPClient)
	}
}
