package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// keepRuns is how many runs the history keeps (the oldest go first).
const keepRuns = 20

// history is every bench run, oldest first (docs/bench/history.json).
type history struct {
	Comment string `json:"comment"`
	Runs    []Run  `json:"runs"`
}

func loadHistory(path string) (*history, error) {
	h := &history{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("%s: %w (fix or remove the file; every run is appended to it)", path, err)
	}
	return h, nil
}

// last is the newest run, or nil.
func (h *history) last() *Run {
	if len(h.Runs) == 0 {
		return nil
	}
	return &h.Runs[len(h.Runs)-1]
}

func (h *history) save(path string) error {
	if len(h.Runs) > keepRuns {
		h.Runs = h.Runs[len(h.Runs)-keepRuns:]
	}
	h.Comment = "Written by go run ./cmd/greenlight-bench: every run's figures, oldest first (docs/bench.md explains them)."
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
