package localaws

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Region is the region every local resource lives in.
const Region = "us-east-1"

// DefaultAccount is moto's default account; Step Functions task states always act in it.
const DefaultAccount = "123456789012"

// Config returns an aws.Config for the local endpoint. accountID selects an isolated moto
// account (empty means the default account). Only connection errors are retried
// (ConnectionRetryer): moto answers unimplemented calls with HTTP 500, and a test should see
// that and every other API error at once. Connections are not kept alive: under load, a
// response on a reused connection to moto was now and then lost ("use of closed network
// connection" after a 200), and a create retried after that answers "already exists".
func Config(ctx context.Context, endpoint, accountID string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryer(ConnectionRetryer),
		config.WithHTTPClient(HTTPClient()),
	}
	if accountID != "" && accountID != DefaultAccount {
		opts = append(opts, config.WithAPIOptions([]func(*middleware.Stack) error{
			smithyhttp.AddHeaderValue("x-moto-account-id", accountID),
		}))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}

// ConnectionRetryer retries a call that failed on its connection, up to three attempts, and
// nothing else. Under load the Go transport and moto's HTTP server now and then lose a
// response on a reused keep-alive connection ("read tcp …: use of closed network connection"
// after a 200, aws/aws-sdk-go-v2#2737); the SDK counts that as a connection error. Such a call
// may have reached moto: a retried create can then answer "already exists".
func ConnectionRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.NewExponentialJitterBackoff(100 * time.Millisecond)
	})
}

// HTTPClient is the AWS SDK HTTP client for moto: a new connection for every call (see
// Config).
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.DisableKeepAlives = true })
}
