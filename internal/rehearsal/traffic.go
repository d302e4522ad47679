package rehearsal

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// RequestStats is what the traffic generator saw from the production listener.
type RequestStats struct {
	Rate   float64 `json:"ratePerSecond"`
	Sent   int64   `json:"sent"`
	OK     int64   `json:"ok"`
	Failed int64   `json:"failed5xx"`
	// Errors are requests that got no HTTP answer at all.
	Errors int64 `json:"transportErrors"`
	// ByVersion counts answers per version of the app that gave them (GET / reports it).
	ByVersion map[string]int64 `json:"byVersion"`
}

// traffic sends GET / to the production listener at a fixed rate (loopback only, bounded
// concurrency), so that per-phase counts mean something and the 5xx-rate alarm has enough
// requests for its minimum-traffic guard.
type traffic struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	st RequestStats
}

func startTraffic(url string, rate float64) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	t := &traffic{cancel: cancel, done: make(chan struct{}), st: RequestStats{Rate: rate, ByVersion: map[string]int64{}}}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	jobs := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t.one(ctx, client, url)
			}
		}()
	}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				close(jobs)
				wg.Wait()
				client.CloseIdleConnections()
				return
			case <-tick.C:
				select {
				case jobs <- struct{}{}:
				default: // every worker busy: the target is slower than the rate; skip a beat
				}
			}
		}
	}()
	return t
}

func (t *traffic) one(ctx context.Context, c *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return
	}
	resp, err := c.Do(req)
	if ctx.Err() != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return // stopping: not the service's fault
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Sent++
	if err != nil {
		t.st.Errors++
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		t.st.Failed++
	case resp.StatusCode < 400:
		t.st.OK++
	}
	var info struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &info) == nil && info.Version != "" {
		t.st.ByVersion[info.Version]++
	}
}

// stop ends the traffic and returns what it saw.
func (t *traffic) stop() RequestStats {
	t.cancel()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	st.ByVersion = map[string]int64{}
	for k, v := range t.st.ByVersion {
		st.ByVersion[k] = v
	}
	return st
}
