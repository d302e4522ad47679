package smoketest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// benchDelay is how long every fake task takes to answer every check.
const benchDelay = 50 * time.Millisecond

// BenchmarkProbes runs the whole hook (fake ECS discovery, real HTTP to 20 fake green tasks
// on their own loopback IPs, 5 checks each, every answer delayed benchDelay on the server)
// and reports, beside ns/op, the run's time as a multiple of one single check's:
//
//	single-check          1 task × 1 check
//	20x5/parallelism-100  all 100 probes at once: about one check's time
//	20x5/parallelism-10   the default bound: ten waves of ten
func BenchmarkProbes(b *testing.B) {
	f := newFleet(b, 20)
	for _, a := range f.apps {
		a.set(200, "OK", benchDelay)
	}
	var checks []string
	for i := 0; i < 5; i++ {
		checks = append(checks, fmt.Sprintf("{name: c%d, path: /c%d, expectStatus: 200, bodyContains: OK}", i, i))
	}
	setup := func(b *testing.B, tasks, nChecks, parallelism int) (*harness, []byte) {
		smoke := fmt.Sprintf("parallelism: %d\nchecks: [%s]", parallelism, strings.Join(checks[:nChecks], ", "))
		hs := newHarness(b, routeDoc(b, smoke))
		hs.useFleet(&fleet{ips: f.ips[:tasks], port: f.port})
		d := hs.h.d
		d.Logger = slog.New(slog.DiscardHandler)
		hs.h = New(Config{RoutesParameter: "/greenlight/routes", LedgerTable: "ledger", TimeScale: 1}, d)
		raw, _ := json.Marshal(event(StagePostScaleUp, ""))
		return hs, raw
	}
	run := func(b *testing.B, hs *harness, raw []byte) time.Duration {
		start := time.Now()
		resp, err := hs.h.Handle(b.Context(), raw)
		if err != nil || resp.HookStatus != Succeeded {
			b.Fatalf("Handle = %+v, %v; want SUCCEEDED", resp, err)
		}
		return time.Since(start)
	}
	// One check against one task, the unit the others are compared with.
	single := func(b *testing.B) time.Duration {
		hs, raw := setup(b, 1, 1, 10)
		run(b, hs, raw) // warm the connection
		var total time.Duration
		for i := 0; i < 5; i++ {
			total += run(b, hs, raw)
		}
		return total / 5
	}

	b.Run("single-check", func(b *testing.B) {
		hs, raw := setup(b, 1, 1, 10)
		run(b, hs, raw)
		b.ResetTimer()
		for b.Loop() {
			run(b, hs, raw)
		}
	})
	for _, par := range []int{100, 10} {
		b.Run(fmt.Sprintf("20x5/parallelism-%d", par), func(b *testing.B) {
			unit := single(b)
			hs, raw := setup(b, 20, 5, par)
			run(b, hs, raw)
			var total time.Duration
			n := 0
			b.ResetTimer()
			for b.Loop() {
				total += run(b, hs, raw)
				n++
			}
			b.ReportMetric(float64(total)/float64(n)/float64(unit), "x-single-check")
		})
	}
}
