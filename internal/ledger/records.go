package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Marker records that a digest was taken up for a service.
type Marker struct {
	Digest    string    `json:"digest"`
	Tag       string    `json:"tag,omitempty"`
	JobID     string    `json:"jobId"`
	Execution string    `json:"execution"`
	SeenAt    time.Time `json:"seenAt"`
}

// ClaimDigest records that m.Digest is being deployed to the service unless it already was
// (a second tag of the same image, a replayed event). When it was, it returns the existing
// marker and claimed=false. A retry by the same job claims again.
func (t *Table) ClaimDigest(ctx context.Context, key string, m Marker) (claimed bool, existing Marker, err error) {
	item := keyOf(serviceKey(key), "DIGEST#"+m.Digest)
	item["digest"] = s(m.Digest)
	item["tag"] = s(m.Tag)
	item["jobId"] = s(m.JobID)
	item["execution"] = s(m.Execution)
	item["seenAt"] = n(m.SeenAt.UnixNano())
	item["expiresAt"] = ttl(t.now().Add(DigestMarkerTTL))
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(t.name),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR jobId = :job"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":job": s(m.JobID)},
	})
	if err == nil {
		return true, m, nil
	}
	if !isConditionFailed(err) {
		return false, Marker{}, t.wrap("claim digest "+m.Digest+" for "+key, err)
	}
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.name), Key: keyOf(serviceKey(key), "DIGEST#"+m.Digest), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, Marker{}, t.wrap("read digest marker", err)
	}
	return false, Marker{
		Digest: getS(out.Item, "digest"), Tag: getS(out.Item, "tag"), JobID: getS(out.Item, "jobId"),
		Execution: getS(out.Item, "execution"), SeenAt: getTime(out.Item, "seenAt"),
	}, nil
}

// PutResult stores a result as the service's deployment record. Writing the same result
// again (a retried finalize) overwrites it in place.
func (t *Table) PutResult(ctx context.Context, r result.Result) error {
	if r.ID == "" || r.Cluster == "" || r.Service == "" {
		return fmt.Errorf("ledger: a deployment record needs id, cluster and service (got %q, %q, %q)", r.ID, r.Cluster, r.Service)
	}
	item := keyOf(serviceKey(r.Cluster+"/"+r.Service), recordSortKey(r))
	item["id"] = s(r.ID)
	item["outcome"] = s(string(r.Outcome))
	item["digest"] = s(r.Image.Digest)
	item["result"] = mustJSON(r)
	if _, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.name), Item: item}); err != nil {
		return t.wrap("put result "+r.ID, err)
	}
	return nil
}

func recordSortKey(r result.Result) string {
	return "DEP#" + r.StartedAt.UTC().Format(recordSortLayout) + "#" + r.ID
}

// History returns the service's deployment records, newest first, at most limit (0 = 50).
func (t *Table) History(ctx context.Context, key string, limit int) ([]result.Result, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []result.Result
	var start map[string]types.AttributeValue
	for len(out) < limit {
		page, err := t.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(t.name),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :dep)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": s(serviceKey(key)), ":dep": s("DEP#"),
			},
			ScanIndexForward:  aws.Bool(false),
			Limit:             aws.Int32(int32(limit - len(out))),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, t.wrap("history "+key, err)
		}
		for _, item := range page.Items {
			var r result.Result
			if err := getJSON(item, "result", &r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	return out, nil
}

// LastGood returns the newest SUCCEEDED deployment of the service whose digest differs from
// excludeDigest and that no REGRESSED follow-up marks as bad, or nil when there is none.
func (t *Table) LastGood(ctx context.Context, key, excludeDigest string) (*result.Result, error) {
	hist, err := t.History(ctx, key, 100)
	if err != nil {
		return nil, err
	}
	return LastGood(hist, excludeDigest), nil
}

// LastGood picks the rollback target from a newest-first history (see Table.LastGood).
func LastGood(history []result.Result, excludeDigest string) *result.Result {
	regressed := map[string]bool{}
	for _, r := range history {
		if r.Outcome == result.Regressed && r.FollowUpOf != "" {
			regressed[r.FollowUpOf] = true
		}
	}
	for i := range history {
		r := history[i]
		if r.Outcome == result.Succeeded && !regressed[r.ID] && r.Image.Digest != "" && r.Image.Digest != excludeDigest {
			return &r
		}
	}
	return nil
}

// PutSmokeEvidence stores the hook's checks for one stage of a service deployment (the
// latest invocation at that stage replaces the previous one).
func (t *Table) PutSmokeEvidence(ctx context.Context, serviceDeploymentARN, stage string, checks []result.CheckEvidence) error {
	item := keyOf(sdepKey(serviceDeploymentARN), "SMOKE#"+stage)
	item["stage"] = s(stage)
	item["checks"] = mustJSON(checks)
	item["expiresAt"] = ttl(t.now().Add(EvidenceTTL))
	if _, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.name), Item: item}); err != nil {
		return t.wrap("put smoke evidence", err)
	}
	return nil
}

// SmokeEvidence returns every stored check for the service deployment, in stage order of
// storage (POST_SCALE_UP before POST_TEST_TRAFFIC_SHIFT as ECS runs them).
func (t *Table) SmokeEvidence(ctx context.Context, serviceDeploymentARN string) ([]result.CheckEvidence, error) {
	page, err := t.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(t.name),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :smoke)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(sdepKey(serviceDeploymentARN)), ":smoke": s("SMOKE#"),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, t.wrap("read smoke evidence", err)
	}
	var out []result.CheckEvidence
	for _, item := range page.Items {
		var checks []result.CheckEvidence
		if err := getJSON(item, "checks", &checks); err != nil {
			return nil, err
		}
		out = append(out, checks...)
	}
	sortByStage(out)
	return out, nil
}

var stageOrder = map[string]int{"POST_SCALE_UP": 1, "POST_TEST_TRAFFIC_SHIFT": 2, "PRE_PRODUCTION_TRAFFIC_SHIFT": 3, "POST_PRODUCTION_TRAFFIC_SHIFT": 4}

func sortByStage(cs []result.CheckEvidence) {
	// insertion sort: a handful of stages, stable
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && stageOrder[cs[j].Stage] < stageOrder[cs[j-1].Stage]; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// ClaimStop records that greenlight asks ECS to roll back the service deployment. Only the
// first caller gets true: the StopServiceDeployment call is made once across polls and
// retries. by says who asked (job ID and reason).
func (t *Table) ClaimStop(ctx context.Context, serviceDeploymentARN, by string) (bool, error) {
	item := keyOf(sdepKey(serviceDeploymentARN), "STOP")
	item["by"] = s(by)
	item["at"] = n(t.now().UnixNano())
	item["expiresAt"] = ttl(t.now().Add(EvidenceTTL))
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.name), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, t.wrap("claim stop", err)
	}
	return true, nil
}

// UnclaimStop removes the stop marker, so a StopServiceDeployment call that failed can be
// tried again by the next poll.
func (t *Table) UnclaimStop(ctx context.Context, serviceDeploymentARN string) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(t.name), Key: keyOf(sdepKey(serviceDeploymentARN), "STOP")})
	if err != nil {
		return t.wrap("unclaim stop", err)
	}
	return nil
}

// Notification delivery states.
const (
	NotificationSending = "sending"
	NotificationSent    = "sent"
	NotificationFailed  = "failed" // permanently (a 4xx): not retried, sent to the DLQ
)

// ClaimNotification reserves the delivery of result resultID to channel. It returns false
// when the message was already sent (or permanently failed), or when another delivery is in
// flight and its lease has not run out; a crashed delivery can be retried after lease.
func (t *Table) ClaimNotification(ctx context.Context, resultID, channel string, lease time.Duration) (bool, error) {
	now := t.now()
	item := keyOf(resultKey(resultID), "CHAN#"+channel)
	item["state"] = s(NotificationSending)
	item["leaseUntil"] = n(now.Add(lease).UnixNano())
	item["expiresAt"] = ttl(now.Add(NotificationTTL))
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(t.name),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR (#st = :sending AND leaseUntil < :now)"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sending": s(NotificationSending), ":now": n(now.UnixNano()),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, t.wrap("claim notification", err)
	}
	return true, nil
}

// CompleteNotification records the final state of a delivery (NotificationSent or
// NotificationFailed) with a detail for people (HTTP status, error).
func (t *Table) CompleteNotification(ctx context.Context, resultID, channel, state, detail string) error {
	if state != NotificationSent && state != NotificationFailed {
		return fmt.Errorf("ledger: notification state %q: want %q or %q", state, NotificationSent, NotificationFailed)
	}
	item := keyOf(resultKey(resultID), "CHAN#"+channel)
	item["state"] = s(state)
	item["detail"] = s(detail)
	item["at"] = n(t.now().UnixNano())
	item["expiresAt"] = ttl(t.now().Add(NotificationTTL))
	if _, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.name), Item: item}); err != nil {
		return t.wrap("complete notification", err)
	}
	return nil
}

// ReleaseNotification gives up an in-flight claim so that a redelivery may try again.
func (t *Table) ReleaseNotification(ctx context.Context, resultID, channel string) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(resultKey(resultID), "CHAN#"+channel),
		ConditionExpression:       aws.String("#st = :sending"),
		ExpressionAttributeNames:  map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sending": s(NotificationSending)},
	})
	if err != nil && !isConditionFailed(err) {
		return t.wrap("release notification", err)
	}
	return nil
}

// Notifications returns channel → state for a result (for the CLI and tests).
func (t *Table) Notifications(ctx context.Context, resultID string) (map[string]string, error) {
	page, err := t.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(t.name),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :c)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(resultKey(resultID)), ":c": s("CHAN#"),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, t.wrap("read notifications", err)
	}
	out := map[string]string{}
	for _, item := range page.Items {
		out[strings.TrimPrefix(getS(item, "sk"), "CHAN#")] = getS(item, "state")
	}
	return out, nil
}
