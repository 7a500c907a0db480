package testutil

import (
	"net/url"
	"path"
	"strings"
)

// CarelessFilePath is the path a careless filesystem server reads for a
// file: URI (any case of "file://", an empty or localhost authority):
// every percent-encoding decoded until none is left ("%252e" is "."),
// "\" taken for "/", the query and fragment taken for part of the path,
// and dot segments and doubled slashes removed by path.Clean; a trailing
// "/" (a directory) is kept. ok is false for any other URI. Tests use it
// as the most permissive resolver a resource URI may meet upstream.
func CarelessFilePath(uri string) (p string, ok bool) {
	if len(uri) < len("file://") || !strings.EqualFold(uri[:len("file://")], "file://") {
		return "", false
	}
	host, p, ok := strings.Cut(uri[len("file://"):], "/")
	if !ok || host != "" && !strings.EqualFold(host, "localhost") {
		return "", false
	}
	p = "/" + p
	for {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = strings.ReplaceAll(p, `\`, "/")
	dir := strings.HasSuffix(p, "/")
	p = path.Clean(p)
	if dir && p != "/" {
		p += "/"
	}
	return p, true
}
