// Package cli implements the greenlight operator commands (status, history, deploy,
// rollback, verify, routes): flag parsing with global AWS and stack flags, the resolution of
// the stack's resources, the AWS clients behind small interfaces, and the two output forms
// every command has: tables for people (colours only on a terminal, NO_COLOR honoured) and a
// documented, stable JSON form for scripts (--output json; schemas in cmd/greenlight/schemas).
//
// Each command is a constructor returning a fresh *Command; cmd/greenlight registers them, one
// file per command, so a new command (greenlight rehearse) is one more file there.
//
// Exit codes are part of the interface: 0 ok, 1 a check failed or a waited-for deployment did
// not succeed, 2 usage (bad flag, bad file), 3 AWS/API error, 4 not found, 130 interrupted.
package cli
