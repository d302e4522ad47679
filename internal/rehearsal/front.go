package rehearsal

import (
	"bytes"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ecsFront is the ECS endpoint the Lambdas are given (AWS_ENDPOINT_URL_ECS). It listens for
// the whole run and forwards to the current scenario's emulator, so each scenario gets a
// fresh emulator while the Lambdas, started once, keep their endpoint, and no other process
// can take the port between two scenarios. It counts the calls per operation, and a fault
// scenario can hook one call (hold it, or act once ECS has answered it).
type ecsFront struct {
	url    string
	srv    *http.Server
	proxy  *httputil.ReverseProxy
	target atomic.Pointer[url.URL]

	mu    sync.Mutex
	calls map[string]int
	hooks []*callHook
}

// callHook acts on the first call of an operation the Lambdas make.
type callHook struct {
	op string
	// before runs before the call is forwarded (it may block: the call waits).
	before func()
	// after runs once the emulator has answered, before the answer goes back; it returns
	// false to send no answer at all (the caller is gone).
	after func() bool
	fired bool
}

func startECSFront() (*ecsFront, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &ecsFront{url: "http://" + ln.Addr().String(), calls: map[string]int{}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if t := f.target.Load(); t != nil {
				r.SetURL(t)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "the rehearsal's ECS emulator is not running: "+err.Error(), http.StatusServiceUnavailable)
		},
	}
	f.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(f.serve)}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *ecsFront) serve(w http.ResponseWriter, r *http.Request) {
	if f.target.Load() == nil {
		http.Error(w, "the rehearsal's ECS emulator is not running", http.StatusServiceUnavailable)
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.")
	f.mu.Lock()
	f.calls[op]++
	var h *callHook
	for _, c := range f.hooks {
		if c.op == op && !c.fired {
			c.fired, h = true, c
			break
		}
	}
	f.mu.Unlock()
	if h == nil {
		f.proxy.ServeHTTP(w, r)
		return
	}
	if h.before != nil {
		h.before()
	}
	if h.after == nil {
		f.proxy.ServeHTTP(w, r)
		return
	}
	// Let the emulator act on the call, keep its answer, then run the hook.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, r)
	if !h.after() {
		// No answer at all: the connection is closed, as a dead caller's would be.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
		return
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// point sends the ECS calls to the emulator at u ("" stops forwarding), and starts a new
// scenario: the counts and the hooks are cleared.
func (f *ecsFront) point(u string) {
	f.mu.Lock()
	f.calls, f.hooks = map[string]int{}, nil
	f.mu.Unlock()
	if u == "" {
		f.target.Store(nil)
		return
	}
	p, err := url.Parse(u)
	if err == nil {
		f.target.Store(p)
	}
}

// hook arms h for the next call of its operation.
func (f *ecsFront) hook(h *callHook) {
	f.mu.Lock()
	f.hooks = append(f.hooks, h)
	f.mu.Unlock()
}

// counts returns the calls per operation since the scenario began.
func (f *ecsFront) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

func (f *ecsFront) close() { _ = f.srv.Close() }
