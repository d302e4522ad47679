// Package reconcile finds pushes whose ECR event never arrived and deploys them through the
// normal path.
//
// ECR sends its "ECR Image Action" events on a best-effort basis. On a schedule, the
// reconciler lists each route repository's images, takes per service the newest image whose
// tag matches a route (by imagePushedAt), and compares it with what greenlight has seen for
// that service: its deployment records in the ledger, the digest marker a push or an earlier
// reconciliation took, and the image the service runs. A push greenlight never saw, newer
// than anything it deployed to the service and older than the grace period, starts the
// deploy state machine with {"request": {"source": "reconcile", …}}: same lock and queue,
// preflight, smoke tests, alarms and result as a push.
//
// Exactly once: before starting, the reconciler takes the digest marker for the service
// with the job ID the execution will have (resolve takes it again with that same ID, a late
// push event finds it and ends as a DUPLICATE skip), and the execution's name is fixed by
// service and digest, so a retried or overlapping run cannot start a second one.
//
// Plan is the decision, a pure function of routes × ECR listing × ledger state with a
// reason for every skip; Reconciler.Run is the I/O around it.
package reconcile
