package telegramtest

import "net/http"

// NewHandler returns a fake that does not listen on its own: devbot dev
// mounts it on its single port (under a prefix, with http.StripPrefix) so
// that replies can be printed and read back without a real bot. Do not call
// Close or use the embedded httptest.Server of a fake made this way.
func NewHandler(token string) *Server {
	return &Server{Token: token, files: map[string][]byte{}, fails: map[string][]failure{}, nextID: 1000,
		notify: make(chan struct{}, 1)}
}

// ServeHTTP serves the Bot API paths /bot<token>/<method> and
// /file/bot<token>/<path>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }
