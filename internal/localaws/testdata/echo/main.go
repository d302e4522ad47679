// Command echo is a Lambda used by localaws tests: it returns its input with "echoed": true,
// fails when the input has "fail": true, and first sleeps "sleepMs" milliseconds when given.
package main

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in map[string]any) (map[string]any, error) {
		if ms, ok := in["sleepMs"].(float64); ok {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		if in["fail"] == true {
			return nil, errors.New("asked to fail")
		}
		in["echoed"] = true
		return in, nil
	})
}
