// Command fail is a Lambda used by localaws tests: every invocation fails. With echo it
// gives BuildBootstraps two packages to build at once.
package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (map[string]any, error) {
		return nil, errors.New("always fails")
	})
}
