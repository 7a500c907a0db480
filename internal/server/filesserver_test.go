package server_test

import (
	"context"
	"errors"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// The stdio test server's "files" mode (stdioServerEnv=files) is an
// upstream whose resources resolve like a careless filesystem server's
// (testutil.CarelessFilePath): a file: URI is read from the path that
// remains once every percent-encoding is decoded (again and again, until
// nothing changes), backslashes are taken for slashes, and path.Clean has
// removed the dot segments and doubled slashes; the query and the
// fragment are part of the path. Whatever spelling of a URI escapes a resource pattern on such
// a server, the host must refuse. Its answers name the file it read, as
// servers resolving URIs do.
const filesMode = "files"

// testFiles are the files upstream's files, by path.
var testFiles = map[string]string{
	"/handbook/intro.md": "handbook intro",
	"/secret/plans.md":   "SECRET plans",
	"/etc/passwd":        "root:x:0:0:root:/root:/bin/sh",
}

// testFileLinks are its symbolic links: reading the key reads the value,
// and the answer names the value.
var testFileLinks = map[string]string{"/handbook/latest": "/secret/plans.md"}

// fileReadRoute is the one resource in the files server's table: every
// resources/read is routed to it, with the URI asked for in fileURIArg.
const (
	fileReadRoute = "file:///.route"
	fileURIArg    = "uri"
)

// resolveFile is the files server's reading of uri: the path it reads,
// links followed.
func resolveFile(uri string) (string, bool) {
	p, ok := testutil.CarelessFilePath(uri)
	if target, link := testFileLinks[p]; link {
		p = target
	}
	return p, ok
}

// filesOptions are the files server's options: resources (read through
// one route, whatever the URI) and prompts.
func filesOptions() []mcpserver.ServerOption {
	hooks := &mcpserver.Hooks{}
	hooks.AddBeforeReadResource(func(_ context.Context, _ any, req *mcp.ReadResourceRequest) {
		req.Params.Arguments = map[string]any{fileURIArg: req.Params.URI}
		req.Params.URI = fileReadRoute
	})
	return []mcpserver.ServerOption{
		mcpserver.WithHooks(hooks),
		mcpserver.WithResourceCapabilities(true, true),
		mcpserver.WithPromptCapabilities(true),
	}
}

// fileContents reads uri as the files server does.
func fileContents(uri string) (mcp.TextResourceContents, error) {
	p, ok := resolveFile(uri)
	text, found := testFiles[p]
	if !ok || !found {
		return mcp.TextResourceContents{}, errors.New("no such file")
	}
	return mcp.TextResourceContents{URI: "file://" + p, MIMEType: "text/plain", Text: text}, nil
}

// addFiles gives s the files server's resources, a template, the tool
// links and the prompt files-prompt. links and files-prompt return links
// to and embedded copies of files in and out of /handbook, and one URI
// spelled with a dot segment.
func addFiles(s *mcpserver.MCPServer) {
	s.AddResource(mcp.NewResource(fileReadRoute, "read route"), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		uri, _ := req.Params.Arguments[fileURIArg].(string)
		c, err := fileContents(uri)
		if err != nil {
			return nil, err
		}
		return []mcp.ResourceContents{c}, nil
	})
	s.AddResourceTemplate(mcp.NewResourceTemplate("file:///handbook/{name}", "handbook page"),
		func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			c, err := fileContents(req.Params.URI)
			if err != nil {
				return nil, err
			}
			return []mcp.ResourceContents{c}, nil
		})
	embedded := func(uri string) mcp.EmbeddedResource {
		return mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: "copy of " + uri})
	}
	s.AddTool(mcp.NewTool("links"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{
			mcp.NewTextContent("files"),
			mcp.NewResourceLink("file:///handbook/intro.md", "intro", "", "text/plain"),
			mcp.NewResourceLink("file:///secret/plans.md", "plans", "", "text/plain"),
			mcp.NewResourceLink("file:///handbook/../etc/passwd", "passwd", "", "text/plain"),
			embedded("file:///handbook/intro.md"),
			embedded("file:///etc/passwd"),
			embedded("file:///handbook/%2e%2e/secret/plans.md"),
		}}, nil
	})
	s.AddPrompt(mcp.NewPrompt("files-prompt"), func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return mcp.NewGetPromptResult("files", []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("read these")),
			mcp.NewPromptMessage(mcp.RoleUser, embedded("file:///handbook/intro.md")),
			mcp.NewPromptMessage(mcp.RoleUser, embedded("file:///secret/plans.md")),
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewResourceLink("file:///handbook/../secret/plans.md", "plans", "", "text/plain")),
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewResourceLink("file:///handbook/intro.md", "intro", "", "text/plain")),
		}), nil
	})
}
