package main

import (
	"context"
	"errors"
	"io/fs"
	"testing"
)

// TestErrRecordMixedTypes records errors of different concrete types one
// after the other, which panics with an atomic.Value.
func TestErrRecordMixedTypes(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	plain := errors.New("plain")

	var last errRecord
	if err := last.get(); err != nil {
		t.Fatalf("empty record: got %v, want nil", err)
	}
	last.set(pathErr)
	last.set(plain)
	last.set(context.DeadlineExceeded)
	if err := last.get(); err != context.DeadlineExceeded {
		t.Fatalf("set: got %v, want the last error recorded", err)
	}

	var first errRecord
	first.setFirst(plain)
	first.setFirst(pathErr)
	if err := first.get(); err != plain {
		t.Fatalf("setFirst: got %v, want the first error recorded", err)
	}
}
