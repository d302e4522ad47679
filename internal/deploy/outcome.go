package deploy

import (
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

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

// AlarmStage is the stage an alarm seen now is reported as firing in: the deployment's
// stage, except a stage a rollback re-enters (TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
// CLEAN_UP) while ECS rolls back: greenlight then first looked after ECS had already moved
// the rollback on, so the stage the alarm fired in is not known ("" — say since when the
// alarm has been in ALARM instead).
func AlarmStage(status, stage string) string {
	if strings.HasPrefix(status, "ROLLBACK_") {
		switch stage {
		case "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "CLEAN_UP":
			return ""
		}
	}
	return stage
}
