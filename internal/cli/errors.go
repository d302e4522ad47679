package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Exit codes. Scripts rely on them; they never change meaning.
const (
	ExitOK          = 0
	ExitFailed      = 1 // a check failed, or a deployment that was waited for did not succeed
	ExitUsage       = 2 // bad flag, bad argument, bad file, missing configuration
	ExitAWS         = 3 // an AWS API call failed
	ExitNotFound    = 4 // the service, deployment, image, stack or parameter does not exist
	ExitInterrupted = 130
)

// Error carries an exit code with a message for people.
type Error struct {
	Code int
	Err  error
	// Usage adds "Run 'greenlight <cmd> --help'" to the message.
	Usage bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Usagef is a usage error (exit 2).
func Usagef(format string, a ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, a...), Usage: true}
}

// Invalidf is bad input that is not a flag problem, such as a bad routes file (exit 2).
func Invalidf(format string, a ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// NotFoundf is exit 4.
func NotFoundf(format string, a ...any) error {
	return &Error{Code: ExitNotFound, Err: fmt.Errorf(format, a...)}
}

// Failedf is exit 1: a check failed or a deployment did not succeed.
func Failedf(format string, a ...any) error {
	return &Error{Code: ExitFailed, Err: fmt.Errorf(format, a...)}
}

// AWSError wraps an AWS call's error (exit 3) with what was being done.
func AWSError(what string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &Error{Code: ExitAWS, Err: fmt.Errorf("%s: %w", what, err)}
}

// silent is returned by a command that already printed everything (its verdict) and only
// needs its exit code.
type silent struct{ code int }

func (s silent) Error() string { return fmt.Sprintf("exit %d", s.code) }

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var s silent
	if errors.As(err, &s) {
		return s.code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	var ae smithy.APIError
	var oe *smithy.OperationError
	if errors.As(err, &ae) || errors.As(err, &oe) {
		return ExitAWS
	}
	return ExitFailed
}

// errorKind names the exit code in the JSON error object.
func errorKind(code int) string {
	switch code {
	case ExitFailed:
		return "failed"
	case ExitUsage:
		return "usage"
	case ExitAWS:
		return "aws"
	case ExitNotFound:
		return "not_found"
	case ExitInterrupted:
		return "interrupted"
	}
	return "error"
}

// apiCode returns the AWS error code of err ("" if it is not an AWS API error).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
