package ledger_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// newTable creates a ledger table in the test's own moto account, with a settable clock.
func newTable(t *testing.T) (*ledger.Table, *time.Time) {
	t.Helper()
	db := dynamodb.NewFromConfig(awstest.Config(t))
	if _, err := db.CreateTable(context.Background(), ledger.CreateTableInput("ledger")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	return ledger.New(db, "ledger").WithClock(func() time.Time { return now }), &now
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	a := ledger.Holder{JobID: "exec-a/prod/web", Execution: "arn:exec-a", AcquiredAt: *now, LeaseUntil: now.Add(10 * time.Minute)}
	b := ledger.Holder{JobID: "exec-b/prod/web", Execution: "arn:exec-b", AcquiredAt: *now, LeaseUntil: now.Add(10 * time.Minute)}

	if ok, _, err := tb.TryLock(ctx, "prod/web", a); err != nil || !ok {
		t.Fatalf("TryLock(a) on a free lock = %v, %v; want acquired", ok, err)
	}
	if ok, _, err := tb.TryLock(ctx, "prod/web", a); err != nil || !ok {
		t.Fatalf("TryLock(a) again (retry) = %v, %v; want acquired", ok, err)
	}
	ok, cur, err := tb.TryLock(ctx, "prod/web", b)
	if err != nil || ok || cur.JobID != a.JobID {
		t.Fatalf("TryLock(b) while a holds = %v, %+v, %v; want not acquired, holder a", ok, cur, err)
	}
	if ok, _, _ := tb.TryLock(ctx, "prod/api", b); !ok {
		t.Fatal("locks of different services must be independent")
	}
	if err := tb.RenewLock(ctx, "prod/web", b.JobID, now.Add(time.Hour)); err != ledger.ErrLockLost {
		t.Fatalf("RenewLock by non-holder = %v; want ErrLockLost", err)
	}
	if err := tb.ReleaseLock(ctx, "prod/web", b.JobID); err != nil {
		t.Fatalf("ReleaseLock by non-holder = %v; want no error", err)
	}
	if h, _ := tb.Lock(ctx, "prod/web"); h == nil || h.JobID != a.JobID {
		t.Fatalf("a non-holder's release freed the lock: %+v", h)
	}

	// The lease runs out: b may take it.
	*now = now.Add(11 * time.Minute)
	b.LeaseUntil = now.Add(10 * time.Minute)
	if ok, _, err := tb.TryLock(ctx, "prod/web", b); err != nil || !ok {
		t.Fatalf("TryLock(b) after a's lease ran out = %v, %v; want acquired", ok, err)
	}
	if err := tb.RenewLock(ctx, "prod/web", a.JobID, now.Add(time.Hour)); err != ledger.ErrLockLost {
		t.Fatalf("RenewLock by the expired holder = %v; want ErrLockLost", err)
	}
	// Steal from a dead holder only if it still holds.
	c := ledger.Holder{JobID: "exec-c/prod/web", Execution: "arn:exec-c", LeaseUntil: now.Add(time.Minute)}
	if ok, _ := tb.StealLock(ctx, "prod/web", a, c); ok {
		t.Fatal("StealLock from a, who no longer holds, succeeded")
	}
	if ok, err := tb.StealLock(ctx, "prod/web", b, c); err != nil || !ok {
		t.Fatalf("StealLock from b = %v, %v; want true", ok, err)
	}
	if err := tb.ReleaseLock(ctx, "prod/web", c.JobID); err != nil {
		t.Fatal(err)
	}
	if h, _ := tb.Lock(ctx, "prod/web"); h != nil {
		t.Fatalf("lock after release = %+v; want nil", h)
	}
}

// TestLockRace: of many concurrent acquirers exactly one wins.
func TestLockRace(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := ledger.Holder{JobID: string(rune('a'+i)) + "/prod/web", LeaseUntil: now.Add(time.Minute)}
			ok, _, err := tb.TryLock(ctx, "prod/web", h)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d acquirers won the lock; want exactly 1", winners)
	}
}

func TestQueueKeepsNewestPush(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	t0 := *now
	w1 := ledger.Waiter{JobID: "e1", Image: result.Image{Digest: "sha256:1"}, PushedAt: t0, QueuedAt: t0}
	w2 := ledger.Waiter{JobID: "e2", Image: result.Image{Digest: "sha256:2"}, PushedAt: t0.Add(time.Second), QueuedAt: t0.Add(2 * time.Second)}
	w3 := ledger.Waiter{JobID: "e3", Image: result.Image{Digest: "sha256:3"}, PushedAt: t0.Add(time.Second), QueuedAt: t0.Add(3 * time.Second)}

	for _, tc := range []struct {
		w    ledger.Waiter
		want string
	}{
		{w2, "e2"},
		{w1, "e2"}, // an older push arriving late does not displace a newer one
		{w3, "e3"}, // same push second, queued later: newer
		{w2, "e3"}, // re-enqueue by a superseded job does not come back
	} {
		got, err := tb.Enqueue(ctx, "prod/web", tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if got.JobID != tc.want {
			t.Errorf("Enqueue(%s) newest = %s; want %s", tc.w.JobID, got.JobID, tc.want)
		}
	}
	if got, _ := tb.Enqueue(ctx, "prod/web", w3); got.JobID != "e3" || got.Image.Digest != "sha256:3" {
		t.Errorf("Enqueue by the newest again = %+v; want itself", got)
	}
	if err := tb.Dequeue(ctx, "prod/web", "e2"); err != nil {
		t.Fatal(err)
	}
	if q, _ := tb.Queue(ctx, "prod/web"); q == nil || q.JobID != "e3" {
		t.Fatalf("Dequeue by a non-head removed the head: %+v", q)
	}
	if err := tb.Dequeue(ctx, "prod/web", "e3"); err != nil {
		t.Fatal(err)
	}
	if q, _ := tb.Queue(ctx, "prod/web"); q != nil {
		t.Fatalf("queue after Dequeue(head) = %+v; want empty", q)
	}
}

func TestClaimDigest(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	m := ledger.Marker{Digest: "sha256:abc", Tag: "v1", JobID: "e1/prod/web", Execution: "arn:e1", SeenAt: *now}
	if ok, _, err := tb.ClaimDigest(ctx, "prod/web", m); err != nil || !ok {
		t.Fatalf("first ClaimDigest = %v, %v; want claimed", ok, err)
	}
	if ok, _, err := tb.ClaimDigest(ctx, "prod/web", m); err != nil || !ok {
		t.Fatalf("ClaimDigest retried by the same job = %v, %v; want claimed", ok, err)
	}
	second := m
	second.Tag, second.JobID = "latest", "e2/prod/web"
	ok, prev, err := tb.ClaimDigest(ctx, "prod/web", second)
	if err != nil || ok || prev.JobID != m.JobID || prev.Tag != "v1" || !prev.SeenAt.Equal(*now) {
		t.Fatalf("ClaimDigest of the same digest by another job = %v, %+v, %v; want refused with the first marker", ok, prev, err)
	}
	if ok, _, _ := tb.ClaimDigest(ctx, "prod/api", second); !ok {
		t.Fatal("the same digest for another service must be claimable")
	}
}

func TestHistoryAndLastGood(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	mk := func(id string, o result.Outcome, digest string, min int) result.Result {
		return result.Result{Version: 1, ID: id, Outcome: o, Cluster: "prod", Service: "web",
			Image: result.Image{Repository: "web", Digest: digest}, StartedAt: now.Add(time.Duration(min) * time.Minute)}
	}
	rs := []result.Result{
		mk("e1", result.Succeeded, "sha256:1", 0),
		mk("e2", result.Succeeded, "sha256:2", 10),
		mk("e3", result.RolledBack, "sha256:3", 20),
		mk("e4", result.Succeeded, "sha256:4", 30),
	}
	reg := mk("e4/regressed", result.Regressed, "sha256:4", 40)
	reg.FollowUpOf = "e4"
	for _, r := range append(rs, reg) {
		if err := tb.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.PutResult(ctx, rs[0]); err != nil { // a retried finalize
		t.Fatal(err)
	}
	hist, err := tb.History(ctx, "prod/web", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range hist {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, ","); got != "e4/regressed,e4,e3,e2,e1" {
		t.Fatalf("History = %s; want newest first, no duplicates", got)
	}
	if h2, _ := tb.History(ctx, "prod/web", 2); len(h2) != 2 {
		t.Fatalf("History(limit 2) returned %d", len(h2))
	}
	lg, err := tb.LastGood(ctx, "prod/web", "sha256:4")
	if err != nil || lg == nil || lg.ID != "e2" {
		t.Fatalf("LastGood(excluding 4) = %+v, %v; want e2 (e4 regressed, e3 rolled back)", lg, err)
	}
	if lg, _ := tb.LastGood(ctx, "prod/web", "sha256:2"); lg == nil || lg.ID != "e1" {
		t.Fatalf("LastGood(excluding 2) = %+v; want e1", lg)
	}
	if lg, _ := tb.LastGood(ctx, "prod/none", ""); lg != nil {
		t.Fatalf("LastGood of a service with no history = %+v; want nil", lg)
	}
}

func TestSmokeEvidence(t *testing.T) {
	ctx := context.Background()
	tb, _ := newTable(t)
	arn := "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/abc"
	test := []result.CheckEvidence{{Stage: "POST_TEST_TRAFFIC_SHIFT", Check: "health", Status: 500, Address: "alb:8080"}}
	scale := []result.CheckEvidence{{Stage: "POST_SCALE_UP", Check: "health", Status: 200, Passed: true, Address: "10.0.1.23:8080"}}
	if err := tb.PutSmokeEvidence(ctx, arn, "POST_TEST_TRAFFIC_SHIFT", test); err != nil {
		t.Fatal(err)
	}
	if err := tb.PutSmokeEvidence(ctx, arn, "POST_SCALE_UP", scale); err != nil {
		t.Fatal(err)
	}
	got, err := tb.SmokeEvidence(ctx, arn)
	if err != nil || len(got) != 2 || got[0].Stage != "POST_SCALE_UP" || got[1].Status != 500 {
		t.Fatalf("SmokeEvidence = %+v, %v; want POST_SCALE_UP then the 500", got, err)
	}
	if none, _ := tb.SmokeEvidence(ctx, arn+"x"); len(none) != 0 {
		t.Fatalf("evidence of another deployment leaked: %+v", none)
	}
}

func TestClaimStopOnce(t *testing.T) {
	ctx := context.Background()
	tb, _ := newTable(t)
	arn := "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/abc"
	if ok, err := tb.ClaimStop(ctx, arn, "e1 alarm web-5xx"); err != nil || !ok {
		t.Fatalf("first ClaimStop = %v, %v", ok, err)
	}
	if ok, _ := tb.ClaimStop(ctx, arn, "e1 retry"); ok {
		t.Fatal("second ClaimStop succeeded; the rollback must be requested once")
	}
	if err := tb.UnclaimStop(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tb.ClaimStop(ctx, arn, "e1 after failed call"); !ok {
		t.Fatal("ClaimStop after UnclaimStop failed")
	}
}

func TestNotificationClaims(t *testing.T) {
	ctx := context.Background()
	tb, now := newTable(t)
	lease := time.Minute
	if ok, err := tb.ClaimNotification(ctx, "r1", "slack", lease); err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, _ := tb.ClaimNotification(ctx, "r1", "slack", lease); ok {
		t.Fatal("a redelivery claimed a delivery that is in flight")
	}
	if ok, _ := tb.ClaimNotification(ctx, "r1", "teams", lease); !ok {
		t.Fatal("another channel of the same result must be claimable")
	}
	*now = now.Add(2 * lease) // the first delivery crashed: its lease ran out
	if ok, _ := tb.ClaimNotification(ctx, "r1", "slack", lease); !ok {
		t.Fatal("a crashed delivery could not be retried after its lease")
	}
	if err := tb.CompleteNotification(ctx, "r1", "slack", ledger.NotificationSent, "HTTP 200"); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(10 * lease)
	if ok, _ := tb.ClaimNotification(ctx, "r1", "slack", lease); ok {
		t.Fatal("a sent message was claimed again")
	}
	if err := tb.ReleaseNotification(ctx, "r1", "slack"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tb.ClaimNotification(ctx, "r1", "slack", lease); ok {
		t.Fatal("Release must not undo a completed delivery")
	}
	if err := tb.ReleaseNotification(ctx, "r1", "teams"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := tb.ClaimNotification(ctx, "r1", "teams", lease); !ok {
		t.Fatal("a released claim could not be claimed again")
	}
	got, err := tb.Notifications(ctx, "r1")
	if err != nil || got["slack"] != ledger.NotificationSent || got["teams"] != ledger.NotificationSending {
		t.Fatalf("Notifications = %v, %v", got, err)
	}
	if err := tb.CompleteNotification(ctx, "r1", "x", "bogus", ""); err == nil {
		t.Fatal("CompleteNotification accepted an unknown state")
	}
}
