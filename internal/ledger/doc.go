// Package ledger is greenlight's memory, one DynamoDB table: per service the deployment lock
// and the queue of waiting pushes, digest dedupe markers, and the deployment records that
// history, drift checks and "roll back to the last good revision" read; per ECS service
// deployment the smoke-test evidence and the rollback-requested marker; per result the chat
// delivery claims that keep a redelivered message from posting twice.
//
// Every write that decides something (lock, queue, claims) is a conditional write, so two
// executions racing for the same thing cannot both win. Keys are in docs/architecture.md.
package ledger
