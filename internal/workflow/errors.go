package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/smithy-go"
)

// Error names that cross into Step Functions. The state machine's Retry and Catch match
// these exact strings, so they never change.
const (
	// ErrTransient: throttling, timeouts, 5xx from AWS. Retried with backoff.
	ErrTransient = "greenlight.Transient"
	// ErrConfig: the route, service or task definition cannot be deployed as configured
	// (missing container, service not found, not a blue/green service …). Not retried;
	// the result is FAILED with kind CONFIG and the message names the fix.
	ErrConfig = "greenlight.Config"
	// ErrInput: the execution input is not something greenlight can act on.
	ErrInput = "greenlight.Input"
	// ErrInternal: anything else. Retried a few times, then FAILED with kind ERROR.
	ErrInternal = "greenlight.Internal"
)

// Error is an error with a stable Step Functions name.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Configf returns a greenlight.Config error.
func Configf(format string, a ...any) error {
	return &Error{Name: ErrConfig, Err: fmt.Errorf(format, a...)}
}

// Inputf returns a greenlight.Input error.
func Inputf(format string, a ...any) error {
	return &Error{Name: ErrInput, Err: fmt.Errorf(format, a...)}
}

// Transient marks err as retryable.
func Transient(err error) error { return &Error{Name: ErrTransient, Err: err} }

// Boundary converts any error into the value the Lambda runtime reports with a stable
// errorType: a named *Error keeps its name; AWS throttling, timeouts and 5xx become
// greenlight.Transient; everything else greenlight.Internal. Handlers return Boundary(err).
func Boundary(err error) error {
	if err == nil {
		return nil
	}
	return messages.InvokeResponse_Error{Type: Name(err), Message: err.Error()}
}

// Name returns the Step Functions error name Boundary would give err.
func Name(err error) string {
	var ne *Error
	if errors.As(err, &ne) {
		return ne.Name
	}
	if IsTransient(err) {
		return ErrTransient
	}
	return ErrInternal
}

// IsTransient reports whether err is worth retrying: context deadline, AWS throttling or
// a 5xx from the service.
func IsTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne *Error
	if errors.As(err, &ne) && ne.Name == ErrTransient {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
			"ProvisionedThroughputExceededException", "ServiceUnavailable", "ServiceUnavailableException",
			"ServerException", "InternalServerError", "InternalFailure", "RequestTimeout":
			return true
		}
		if f, ok := ae.(interface{ ErrorFault() smithy.ErrorFault }); ok && f.ErrorFault() == smithy.FaultServer {
			return true
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	return false
}
