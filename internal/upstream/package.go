package upstream

import (
	"slices"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/packages"
)

// ResolvePackage returns c with Command set to the argv that starts its
// baked package (entry point, then Args), looking under the package root
// from lookupEnv (see packages.Root). c is returned unchanged when it
// names no package. A package not baked into the image is an error
// naming it.
func ResolvePackage(c config.Upstream, lookupEnv func(string) (string, bool)) (config.Upstream, error) {
	if c.Package == "" {
		return c, nil
	}
	argv, err := packages.Resolve(packages.Root(lookupEnv), c.Package)
	if err != nil {
		return c, err
	}
	c.Command = append(argv, slices.Clone(c.Args)...)
	return c, nil
}
