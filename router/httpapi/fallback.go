package httpapi

import (
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
)

// fallbackWriter is the ResponseWriter given to the ServeMux. The routes
// unwrap it (routed) and write to w; anything else written to it is the
// mux's own plain-text answer for a request no route takes, and is replaced
// by a JSON error:
//   - 405 Method Not Allowed keeps the mux's Allow header;
//   - a redirect to a cleaned path ("//v1/x", "/v1/./x") becomes 404: the
//     API's paths are exact, and a redirected POST is a surprise;
//   - anything else is 404 NOT_FOUND.
type fallbackWriter struct {
	w      http.ResponseWriter
	method string
	path   string
	// header collects the mux's headers, so none leaks into the answer
	// except Allow.
	header   http.Header
	routed   bool
	answered bool
}

func newFallbackWriter(w http.ResponseWriter, r *http.Request) *fallbackWriter {
	return &fallbackWriter{w: w, method: r.Method, path: r.URL.Path, header: make(http.Header)}
}

func (f *fallbackWriter) Header() http.Header { return f.header }

func (f *fallbackWriter) WriteHeader(muxStatus int) {
	if f.answered {
		return
	}
	f.answered = true
	switch {
	case muxStatus == http.StatusMethodNotAllowed:
		allow := f.header.Get("Allow")
		f.w.Header().Set("Allow", allow)
		writeError(f.w, handlerError(http.StatusMethodNotAllowed, codes.Unimplemented, ReasonMethodNotAllowed,
			fmt.Sprintf("httpapi: method %q is not allowed on path %q; allowed: %s", echo(f.method), echo(f.path), allow)))
	case muxStatus >= 300 && muxStatus < 400:
		writeError(f.w, handlerError(http.StatusNotFound, codes.NotFound, ReasonNotFound,
			fmt.Sprintf("httpapi: path %q is not in canonical form (no empty, . or .. segments)", echo(f.path))))
	default:
		writeError(f.w, handlerError(http.StatusNotFound, codes.NotFound, ReasonNotFound,
			fmt.Sprintf("httpapi: no route for method %q and path %q; see the package documentation for the routes", echo(f.method), echo(f.path))))
	}
}

// Write discards the mux's plain-text body; the JSON error replaced it.
func (f *fallbackWriter) Write(b []byte) (int, error) {
	f.WriteHeader(http.StatusOK)
	return len(b), nil
}
