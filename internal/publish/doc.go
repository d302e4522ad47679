// Package publish is finalize: it gathers the evidence for a finished job (smoke checks from
// the ledger, green tasks that stopped, the ECS record's rollback and hook details), asks
// internal/explain for the outcome and reason, assembles the one result.Result of the target
// deployment, and publishes it three ways: the ledger record, the SNS result topic (with
// message attributes for filter policies) and an EventBridge event (source "greenlight").
package publish
