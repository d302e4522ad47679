package rehearsal

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// ecsFront is the ECS endpoint the Lambdas are given (AWS_ENDPOINT_URL_ECS). It listens for
// the whole run and forwards to the current scenario's emulator, so each scenario gets a
// fresh emulator while the Lambdas, started once, keep their endpoint, and no other process
// can take the port between two scenarios.
type ecsFront struct {
	url    string
	srv    *http.Server
	target atomic.Pointer[url.URL]
}

func startECSFront() (*ecsFront, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &ecsFront{url: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if t := f.target.Load(); t != nil {
				r.SetURL(t)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "the rehearsal's ECS emulator is not running: "+err.Error(), http.StatusServiceUnavailable)
		},
	}
	f.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.target.Load() == nil {
			http.Error(w, "the rehearsal's ECS emulator is not running", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// point sends the ECS calls to the emulator at u ("" stops forwarding).
func (f *ecsFront) point(u string) {
	if u == "" {
		f.target.Store(nil)
		return
	}
	p, err := url.Parse(u)
	if err == nil {
		f.target.Store(p)
	}
}

func (f *ecsFront) close() { _ = f.srv.Close() }
