// Package result defines the one message greenlight publishes per target deployment: its
// outcome, the image it deployed and the one it replaced, the ECS service deployment it
// followed, the stages it saw and, for anything but success, the reason in words with the
// evidence behind it.
//
// The JSON form is a public contract (SNS, EventBridge, the ledger, chat, the CLI); fields are
// only ever added.
package result
