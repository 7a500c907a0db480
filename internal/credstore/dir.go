package credstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tailscale.com/ipn"
)

// dirStore keeps each key in a file of its own in a directory (mode 0600
// in a 0700 directory), written atomically.
type dirStore struct {
	dir string
}

func openDir(dir string) (ipn.StateStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("credential store dir:%s: %w", dir, err)
	}
	return &dirStore{dir: dir}, nil
}

func (d *dirStore) String() string { return "dir:" + d.dir }

// ReadState reads the key's file; a missing file is ipn.ErrStateNotExist.
func (d *dirStore) ReadState(id ipn.StateKey) ([]byte, error) {
	if err := checkKey(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.dir, string(id)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotExist
	}
	return b, err
}

// WriteState replaces the key's file (through a temporary file and a
// rename, so a reader never sees half a value), or removes it when bs is
// empty.
func (d *dirStore) WriteState(id ipn.StateKey, bs []byte) error {
	if err := checkKey(id); err != nil {
		return err
	}
	path := filepath.Join(d.dir, string(id))
	if len(bs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	f, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(bs)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
