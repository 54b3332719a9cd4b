// Package server is a fixture for the Go outline.
package server

import (
	"net/http"
)

// Version is the API version.
const Version = "v1"

const (
	a, b = 1, 2
	_    = 3
)

var (
	DefaultTimeout int64
	handlers       = map[string]http.Handler{}
)

type ID = string

type Celsius float64

// Server serves.
type Server struct {
	mux *http.ServeMux
}

type Store interface {
	Get(id ID) ([]byte, error)
}

type List[T any] struct{ items []T }

func New(addr string,
	timeout int64) *Server {
	return &Server{}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	func() {}()
}

func (l *List[T]) Push(v T) { l.items = append(l.items, v) }

func init() {}
