package statemachine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

// BenchmarkColdStart measures, per function, the time from starting aws-lambda-rie with the
// bootstrap to the first response (an invocation that needs no AWS call), and reports the
// stripped bootstrap size. Run: go test -run x -bench ColdStart -benchtime 5x ./statemachine/
func BenchmarkColdStart(b *testing.B) {
	ctx := context.Background()
	rie, err := localaws.InstallRIE(ctx, filepath.Join(root, ".bin"))
	if err != nil {
		b.Fatal(err)
	}
	payload := map[string]string{
		"resolve":  `{"input":{},"executionArn":""}`,
		"lock":     `{"action":"release","job":{"id":"x"}}`,
		"start":    `{"action":"start","job":{"id":"x"}}`,
		"check":    `{"action":"check","job":{"id":"x"}}`,
		"finalize": `{"action":"nope","job":{"id":"x"}}`,
	}
	env := []string{"LEDGER_TABLE=t", "ROUTES_PARAMETER=/r", "RESULT_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:t", "AWS_ENDPOINT_URL=http://127.0.0.1:9"}
	for _, fn := range functions {
		boot, err := localaws.BuildBootstrap(ctx, root, "./functions/"+fn, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		st, _ := os.Stat(boot)
		b.Run(fn, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: rie, Bootstrap: boot, Name: fn, Env: env, LogDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Invoke(ctx, []byte(payload[fn])); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				_ = r.Stop()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-response")
			b.ReportMetric(float64(st.Size())/1e6, "MB-bootstrap")
		})
	}
}
