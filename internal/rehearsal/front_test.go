package rehearsal

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestECSFrontHooks: the front forwards and counts every call; a hook runs before the first
// call of its operation, or after the emulator answered it and then sends no answer at all.
func TestECSFrontHooks(t *testing.T) {
	var got atomic.Int32
	emu := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer emu.Close()
	f, err := startECSFront()
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	call := func(op string) (string, error) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if _, err := call("DescribeServices"); err != nil {
		t.Fatal(err)
	}
	f.point(emu.URL)
	var before atomic.Int32
	f.hook(&callHook{op: "ListTasks", before: func() { before.Add(1) }})
	f.hook(&callHook{op: "UpdateService", after: func() bool { return false }})
	for _, op := range []string{"ListTasks", "ListTasks"} {
		if b, err := call(op); err != nil || b != `{"ok":true}` {
			t.Fatalf("%s through the front = %q, %v", op, b, err)
		}
	}
	if _, err := call("UpdateService"); err == nil {
		t.Error("UpdateService hooked to send no answer got one")
	}
	if b, err := call("UpdateService"); err != nil || b != `{"ok":true}` {
		t.Errorf("a second UpdateService (the hook fired once) = %q, %v", b, err)
	}
	if before.Load() != 1 || got.Load() != 4 {
		t.Errorf("before hook ran %d times, the emulator got %d calls; want 1 and 4 (the unanswered UpdateService reached it)", before.Load(), got.Load())
	}
	if c := f.counts(); c["ListTasks"] != 2 || c["UpdateService"] != 2 {
		t.Errorf("counts = %v", c)
	}
	f.point("")
	if c := f.counts(); len(c) != 0 {
		t.Errorf("counts after a new scenario = %v; want none", c)
	}
}
