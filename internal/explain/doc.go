// Package explain turns a finished job and the evidence gathered for it into the words of a
// result: the outcome, and for anything but success a reason with a kind, a one-line summary
// with numbers ("GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms") and details.
//
// It is pure: no AWS, no clock. internal/publish gathers the evidence and calls it.
package explain
