package awsenv

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// CloudWatchProtocolEnv selects the CloudWatch wire protocol: "query" or "json". Unset means
// the SDK default (Smithy RPC v2 CBOR), which AWS speaks and moto 5.2.1 does not.
const CloudWatchProtocolEnv = "GREENLIGHT_CLOUDWATCH_PROTOCOL"

// MaxAttempts is how many times the SDK tries a call (throttling and 5xx are retried with
// backoff before any error reaches greenlight's own Retry in the state machine).
const MaxAttempts = 5

// AttemptTimeout bounds one HTTP attempt of an AWS call. Without it a call whose answer never
// comes holds the Lambda until its function timeout (30-120 s) and only then does the state
// machine retry; with it the SDK gives up on that attempt and retries it like a dropped
// connection. No call greenlight makes legitimately takes this long.
const AttemptTimeout = 10 * time.Second

// Load returns the aws.Config for this process. getenv is os.Getenv outside tests.
func Load(ctx context.Context, getenv func(string) string, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryMaxAttempts(MaxAttempts),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(AttemptTimeout)),
	}
	opts = append(opts, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region: set AWS_REGION (Lambda sets it) or pass --region")
	}
	return cfg, nil
}

// CloudWatchOptions returns the client option that applies CloudWatchProtocolEnv.
func CloudWatchOptions(getenv func(string) string) (func(*cloudwatch.Options), error) {
	switch p := getenv(CloudWatchProtocolEnv); p {
	case "":
		return func(*cloudwatch.Options) {}, nil
	case "query":
		return func(o *cloudwatch.Options) { o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801) }, nil
	case "json":
		return func(o *cloudwatch.Options) { o.Protocol = awsjson.New11(cwschemas.GraniteServiceVersion20100801) }, nil
	default:
		return nil, fmt.Errorf("%s=%q: use \"query\" or \"json\", or leave it unset on AWS", CloudWatchProtocolEnv, p)
	}
}

// CloudWatch builds a CloudWatch client with the protocol override applied.
func CloudWatch(cfg aws.Config, getenv func(string) string) (*cloudwatch.Client, error) {
	opt, err := CloudWatchOptions(getenv)
	if err != nil {
		return nil, err
	}
	return cloudwatch.NewFromConfig(cfg, opt), nil
}
