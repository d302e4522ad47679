package deploy

import "github.com/greenlight-deploy/greenlight/internal/result"

// Terminal reports whether an ECS ServiceDeploymentStatus is final.
func Terminal(status string) bool {
	switch status {
	case "SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED":
		return true
	}
	return false
}

// StatusOutcome maps every ECS ServiceDeploymentStatus to the outcome greenlight publishes if
// the deployment ended there. A status that is not terminal maps to FAILED: a deployment
// greenlight stopped following (its deadline, or greenlight's own failure) did not succeed.
//
//	SUCCESSFUL                              → SUCCEEDED
//	ROLLBACK_SUCCESSFUL                     → ROLLED_BACK (blue serves again)
//	ROLLBACK_FAILED                         → FAILED (neither revision is cleanly in place)
//	STOPPED                                 → FAILED (stopped, not rolled back: by a person or a newer deployment)
//	PENDING, IN_PROGRESS, STOP_REQUESTED,
//	ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS → FAILED (not finished)
func StatusOutcome(status string) result.Outcome {
	switch status {
	case "SUCCESSFUL":
		return result.Succeeded
	case "ROLLBACK_SUCCESSFUL":
		return result.RolledBack
	}
	return result.Failed
}
