package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// dirSource is "dir:<path>": one file per secret in one directory per
// identity, <path>/<escaped identity key>/<NAME>. The identity key
// (identity.Identity.Key) is "user:<login>" for a user, and
// "tags:<tags, comma-separated>/node:<stable node ID>" for a tagged node;
// it is escaped as a URL path segment (url.PathEscape: '/' becomes %2F,
// '%' %25), so that it is one directory name that never climbs out of
// <path>: e.g. <path>/user:alice@example.com/jira-token.
//
// The file's content is the value, one trailing newline ("\n" or "\r\n")
// removed. An empty file counts as missing.
type dirSource struct {
	spec string
	root string
}

func newDir(spec, root string) (*dirSource, error) {
	switch {
	case root == "":
		return nil, fmt.Errorf("secrets.source: %q: dir: needs a directory (dir:/path)", spec)
	case !filepath.IsAbs(root):
		return nil, fmt.Errorf("secrets.source: %q: the directory must be an absolute path", spec)
	case strings.ContainsRune(root, 0):
		return nil, fmt.Errorf("secrets.source: must not contain NUL")
	}
	return &dirSource{spec: spec, root: filepath.Clean(root)}, nil
}

// DirEntry is the directory name of the identity with key under a dir:
// source.
func DirEntry(key string) string { return url.PathEscape(key) }

func (d *dirSource) path(key, name string) string {
	return filepath.Join(d.root, DirEntry(key), name)
}

func (d *dirSource) String() string { return d.spec }

func (d *dirSource) Where(key, name string) string {
	return "file " + d.path(key, name)
}

func (d *dirSource) Lookup(_ context.Context, key, name string) (string, error) {
	if !NameRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a secret name", name)
	}
	f, err := os.Open(d.path(key, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", &NotFoundError{Name: name, Where: d.Where(key, name), Detail: "no such file"}
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", d.path(key, name))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxValue+1))
	if err != nil {
		return "", err
	}
	v := string(b)
	v = strings.TrimSuffix(v, "\n")
	v = strings.TrimSuffix(v, "\r")
	return checkValue(d, key, name, v)
}
