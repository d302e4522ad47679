package ecsemu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// throttled starts a standalone emulator with th and returns an ECS client that makes one
// attempt per call (so every throttled answer reaches the test).
func throttled(t *testing.T, th *Throttle) (*Emulator, *ecs.Client) {
	t.Helper()
	em, err := New(context.Background(), Options{Runner: Images{}, Throttle: th})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""), RetryMaxAttempts: 1}
	return em, ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(em.URL()) })
}

// pattern calls CreateCluster n times and returns which calls were throttled ("T") or
// answered ("."), failing on any other error.
func pattern(t *testing.T, c *ecs.Client, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		_, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprintf("c%d", i))})
		var ae smithy.APIError
		switch {
		case err == nil:
			b.WriteByte('.')
		case errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException" && ae.ErrorMessage() == "Rate exceeded":
			b.WriteByte('T')
		default:
			t.Fatalf("CreateCluster #%d: %v; want success or ThrottlingException", i, err)
		}
	}
	return b.String()
}

// TestThrottle: the share is applied call by call from the seed (the same seed, the same
// sequence), First throttles an operation's first calls whatever the draw, and the stats
// count what happened.
func TestThrottle(t *testing.T) {
	th := &Throttle{Share: 0.3, Seed: 42, First: map[string]int{"CreateCluster": 3}}
	em1, c1 := throttled(t, th)
	p1 := pattern(t, c1, 40)
	_, c2 := throttled(t, th)
	if p2 := pattern(t, c2, 40); p1 != p2 {
		t.Errorf("the same seed gave two sequences:\n%s\n%s", p1, p2)
	}
	if !strings.HasPrefix(p1, "TTT") {
		t.Errorf("pattern %s: want the first 3 calls throttled (First)", p1)
	}
	n := strings.Count(p1[3:], "T")
	if n < 4 || n > 20 {
		t.Errorf("pattern %s: %d of 37 throttled after First; want about 30%%", p1, n)
	}
	st := em1.Throttled()
	if st.Calls["CreateCluster"] != 40 || st.Throttled["CreateCluster"] != strings.Count(p1, "T") || st.Total() != strings.Count(p1, "T") {
		t.Errorf("stats %+v; want 40 calls and %d throttled", st, strings.Count(p1, "T"))
	}
	if s := st.String(); !strings.HasPrefix(s, "CreateCluster ") {
		t.Errorf("String() = %q", s)
	}
}

// TestThrottleOperations: operations not listed are never throttled; without a Throttle
// nothing is, and the calls are still counted.
func TestThrottleOperations(t *testing.T) {
	_, c := throttled(t, &Throttle{Share: 1, Operations: []string{"UpdateService"}})
	if p := pattern(t, c, 5); p != "....." {
		t.Errorf("CreateCluster with only UpdateService throttled: %s", p)
	}
	em, c := throttled(t, nil)
	if p := pattern(t, c, 5); p != "....." {
		t.Errorf("no Throttle: %s", p)
	}
	if st := em.Throttled(); st.Calls["CreateCluster"] != 5 || st.Total() != 0 {
		t.Errorf("stats without Throttle = %+v", st)
	}
}

func TestThrottleValidation(t *testing.T) {
	for _, th := range []*Throttle{{Share: 1.5}, {Share: -0.1}, {Share: 0.1, First: map[string]int{"UpdateService": -1}}} {
		if _, err := New(context.Background(), Options{Throttle: th}); err == nil || !strings.Contains(err.Error(), "Throttle") {
			t.Errorf("New with %+v = %v; want an error naming Throttle", th, err)
		}
	}
}

// TestServiceTaskDefinition: the service's task definition follows a successful
// deployment and returns to the source after a rollback.
func TestServiceTaskDefinition(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cluster, name := h.create(svcSpec{desired: 1, bake: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(ecstypes.DeploymentLifecycleHookStagePostScaleUp)}})
	blue, err := h.em.ServiceTaskDefinition(cluster, name)
	if err != nil || blue == "" {
		t.Fatalf("ServiceTaskDefinition = %q, %v", blue, err)
	}
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	green, _ := h.em.ServiceTaskDefinition(cluster, name)
	if r.Status != StatusSuccessful || green == blue {
		t.Fatalf("after a %s deployment the service runs %s (blue was %s); want the new revision", r.Status, green, blue)
	}
	h.setScript(func(hookEvent, bool, int) string { return `{"hookStatus":"FAILED"}` })
	r = h.wait(h.deploy(name, map[string]string{"VERSION": "bad"}))
	if got, _ := h.em.ServiceTaskDefinition(cluster, name); r.Status != StatusRollbackSuccessful || got != green {
		t.Errorf("after a %s deployment the service runs %s; want %s again", r.Status, got, green)
	}
	if _, err := h.em.ServiceTaskDefinition(cluster, "nope"); err == nil {
		t.Error("ServiceTaskDefinition of an unknown service: no error")
	}
}
