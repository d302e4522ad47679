package ledger

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Holder is who holds a service's deployment lock.
type Holder struct {
	JobID      string       `json:"jobId"`
	Execution  string       `json:"execution"`
	Image      result.Image `json:"image"`
	AcquiredAt time.Time    `json:"acquiredAt"`
	// LeaseUntil: after this the lock is free for anyone, whatever happened to the holder.
	LeaseUntil time.Time `json:"leaseUntil"`
}

// TryLock takes the lock on the service key ("cluster/service") for h when it is free, its
// lease has run out, or h's job already holds it (a retried acquire). Otherwise it returns
// the current holder.
func (t *Table) TryLock(ctx context.Context, key string, h Holder) (acquired bool, current Holder, err error) {
	now := t.now()
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(t.name),
		Item:                t.lockItem(key, h),
		ConditionExpression: aws.String("attribute_not_exists(pk) OR leaseUntil < :now OR jobId = :job"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": n(now.UnixNano()), ":job": s(h.JobID),
		},
	})
	if err == nil {
		return true, h, nil
	}
	if !isConditionFailed(err) {
		return false, Holder{}, t.wrap("acquire lock "+key, err)
	}
	cur, err := t.Lock(ctx, key)
	if err != nil {
		return false, Holder{}, err
	}
	if cur == nil { // released between the two calls: try once more
		return t.TryLock(ctx, key, h)
	}
	return false, *cur, nil
}

// StealLock takes the lock from dead, a holder whose execution is known to have ended, for
// h. It fails (false) if the lock changed hands meanwhile.
func (t *Table) StealLock(ctx context.Context, key string, dead, h Holder) (bool, error) {
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(t.name),
		Item:                      t.lockItem(key, h),
		ConditionExpression:       aws.String("jobId = :dead"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":dead": s(dead.JobID)},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, t.wrap("steal lock "+key, err)
	}
	return true, nil
}

func (t *Table) lockItem(key string, h Holder) map[string]types.AttributeValue {
	item := keyOf(serviceKey(key), "LOCK")
	item["jobId"] = s(h.JobID)
	item["execution"] = s(h.Execution)
	item["image"] = mustJSON(h.Image)
	item["acquiredAt"] = n(h.AcquiredAt.UnixNano())
	item["leaseUntil"] = n(h.LeaseUntil.UnixNano())
	item["expiresAt"] = ttl(h.LeaseUntil.Add(lockRecordExtra))
	return item
}

// RenewLock extends jobID's lease to until. ErrLockLost if jobID no longer holds the lock.
func (t *Table) RenewLock(ctx context.Context, key, jobID string, until time.Time) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(t.name),
		Key:                 keyOf(serviceKey(key), "LOCK"),
		UpdateExpression:    aws.String("SET leaseUntil = :u, expiresAt = :e"),
		ConditionExpression: aws.String("jobId = :job"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":u": n(until.UnixNano()), ":e": ttl(until.Add(lockRecordExtra)), ":job": s(jobID),
		},
	})
	if isConditionFailed(err) {
		return ErrLockLost
	}
	if err != nil {
		return t.wrap("renew lock "+key, err)
	}
	return nil
}

// ReleaseLock frees the lock if jobID holds it; releasing a lock one does not hold is not
// an error (a retried release, or a lease that already ran out).
func (t *Table) ReleaseLock(ctx context.Context, key, jobID string) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(serviceKey(key), "LOCK"),
		ConditionExpression:       aws.String("jobId = :job"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":job": s(jobID)},
	})
	if err != nil && !isConditionFailed(err) {
		return t.wrap("release lock "+key, err)
	}
	return nil
}

// Lock returns the current holder of the service's lock, or nil when nobody holds it
// (an expired lease still shows, with LeaseUntil in the past).
func (t *Table) Lock(ctx context.Context, key string) (*Holder, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.name), Key: keyOf(serviceKey(key), "LOCK"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, t.wrap("read lock "+key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	h := &Holder{
		JobID: getS(out.Item, "jobId"), Execution: getS(out.Item, "execution"),
		AcquiredAt: getTime(out.Item, "acquiredAt"), LeaseUntil: getTime(out.Item, "leaseUntil"),
	}
	if err := getJSON(out.Item, "image", &h.Image); err != nil {
		return nil, err
	}
	return h, nil
}

// Waiter is a push waiting for a service's lock.
type Waiter struct {
	JobID     string       `json:"jobId"`
	Execution string       `json:"execution"`
	Image     result.Image `json:"image"`
	// PushedAt orders waiters: the newest push wins. QueuedAt breaks ties.
	PushedAt time.Time `json:"pushedAt"`
	QueuedAt time.Time `json:"queuedAt"`
}

// Enqueue records w as the service's newest waiting push unless a newer one is already
// recorded, and returns the newest waiter after the call. A job that is not the newest
// waiter has been superseded.
func (t *Table) Enqueue(ctx context.Context, key string, w Waiter) (Waiter, error) {
	item := keyOf(serviceKey(key), "QUEUE")
	item["jobId"] = s(w.JobID)
	item["execution"] = s(w.Execution)
	item["image"] = mustJSON(w.Image)
	item["pushedAt"] = n(w.PushedAt.UnixNano())
	item["queuedAt"] = n(w.QueuedAt.UnixNano())
	item["expiresAt"] = ttl(t.now().Add(DigestMarkerTTL))
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(t.name),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR jobId = :job OR pushedAt < :p OR (pushedAt = :p AND queuedAt < :q)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":job": s(w.JobID), ":p": n(w.PushedAt.UnixNano()), ":q": n(w.QueuedAt.UnixNano()),
		},
	})
	if err == nil {
		return w, nil
	}
	if !isConditionFailed(err) {
		return Waiter{}, t.wrap("enqueue "+key, err)
	}
	cur, err := t.Queue(ctx, key)
	if err != nil {
		return Waiter{}, err
	}
	if cur == nil { // dequeued between the two calls
		return t.Enqueue(ctx, key, w)
	}
	return *cur, nil
}

// Dequeue removes the queue entry if it is jobID's.
func (t *Table) Dequeue(ctx context.Context, key, jobID string) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(serviceKey(key), "QUEUE"),
		ConditionExpression:       aws.String("jobId = :job"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":job": s(jobID)},
	})
	if err != nil && !isConditionFailed(err) {
		return t.wrap("dequeue "+key, err)
	}
	return nil
}

// Queue returns the newest waiting push for the service, or nil.
func (t *Table) Queue(ctx context.Context, key string) (*Waiter, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.name), Key: keyOf(serviceKey(key), "QUEUE"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, t.wrap("read queue "+key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	w := &Waiter{
		JobID: getS(out.Item, "jobId"), Execution: getS(out.Item, "execution"),
		PushedAt: getTime(out.Item, "pushedAt"), QueuedAt: getTime(out.Item, "queuedAt"),
	}
	if err := getJSON(out.Item, "image", &w.Image); err != nil {
		return nil, err
	}
	return w, nil
}
