// Command echo is a Lambda used by localaws tests: it returns its input with "echoed": true,
// or fails when the input has "fail": true.
package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in map[string]any) (map[string]any, error) {
		if in["fail"] == true {
			return nil, errors.New("asked to fail")
		}
		in["echoed"] = true
		return in, nil
	})
}
