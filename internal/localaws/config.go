package localaws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
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
// account (empty means the default account). Retries are off: moto answers unimplemented
// calls with HTTP 500, and a test should see that at once.
func Config(ctx context.Context, endpoint, accountID string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(1),
	}
	if accountID != "" && accountID != DefaultAccount {
		opts = append(opts, config.WithAPIOptions([]func(*middleware.Stack) error{
			smithyhttp.AddHeaderValue("x-moto-account-id", accountID),
		}))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}
