package upstream

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// discoveryDirName is the directory, beside the identities' hashed ones,
// of the discovery children of per-identity upstreams (no hash is this
// word).
const discoveryDirName = "discovery"

// identityDirs names and creates the directories of per-identity stdio
// children: <root>/<sha256 of the caller's identity key>/<upstream>, each
// level 0700, so that a child keeps its state apart from other callers'
// and never under a caller-chosen name. The discovery child of an
// upstream, which serves no caller, gets <root>/discovery/<upstream>.
type identityDirs struct {
	root string // Options.IdentitiesDir; "" means a temporary root

	mu  sync.Mutex // guards the field below
	tmp string     // the temporary root, once created
}

// dir returns the directory of caller's child of the upstream named
// upstream (caller nil: its discovery child), creating it and its parents
// as needed.
func (d *identityDirs) dir(caller *callerInfo, upstream string) (string, error) {
	root, err := d.rootDir()
	if err != nil {
		return "", err
	}
	name := discoveryDirName
	if caller != nil {
		name = identityDirName(caller.key)
	}
	p := root
	for _, elem := range []string{name, upstream} {
		p = filepath.Join(p, elem)
		if err := MakePrivateDir(p); err != nil {
			return "", err
		}
	}
	return p, nil
}

// rootDir returns the root, creating it (0700) on first use: the
// configured one, or a fresh temporary directory.
func (d *identityDirs) rootDir() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root == "" {
		if d.tmp == "" {
			tmp, err := os.MkdirTemp("", "tsmcp-identities-")
			if err != nil {
				return "", fmt.Errorf("per-identity directories: %w", err)
			}
			d.tmp = tmp
		}
		return d.tmp, nil
	}
	if err := os.MkdirAll(filepath.Dir(d.root), 0o700); err != nil {
		return "", err
	}
	return d.root, MakePrivateDir(d.root)
}

// removeTemp removes the temporary root, if one was created. Callers
// have stopped every child.
func (d *identityDirs) removeTemp() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tmp == "" {
		return nil
	}
	err := os.RemoveAll(d.tmp)
	d.tmp = ""
	return err
}

// identityDirName is the directory name of the identity with key (see
// callerKey): its SHA-256 in hex (identity.KeyHash), never the login or
// tags themselves.
func identityDirName(key string) string { return identity.KeyHash(key) }

// MakePrivateDir makes path a directory only its owner may use: it
// creates it with mode 0700 (its parent must exist), or, when it exists,
// checks that it is a directory and not a symbolic link and sets its mode
// to 0700.
func MakePrivateDir(path string) error {
	err := os.Mkdir(path, 0o700)
	if err != nil && !os.IsExist(err) {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s: is a symbolic link, not a directory", path)
	case !fi.IsDir():
		return fmt.Errorf("%s: not a directory", path)
	}
	if fi.Mode().Perm() != 0o700 {
		// Mkdir's mode is reduced by the umask, and a directory that
		// was already there may be wider.
		return os.Chmod(path, 0o700)
	}
	return nil
}

// expandIdentityDir replaces config.IdentityDirVar in s with dir.
func expandIdentityDir(s, dir string) string {
	return strings.ReplaceAll(s, config.IdentityDirVar, dir)
}
