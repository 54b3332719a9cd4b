// Package main is a small HTTP server using generics and iterators.
package main

import (
	"encoding/json"
	"iter"
	"log"
	"net/http"
	"sync"
)

type Store[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func (s *Store[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

func main() {
	s := &Store[string, int]{m: map[string]int{"a": 1}}
	http.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]int{}
		for k, v := range s.All() {
			out[k] = v
		}
		for i := range 3 {
			_ = i
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
