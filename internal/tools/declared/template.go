package declared

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// tmpl is one parsed config template: an argv element, an env value, a
// header value, a URL part or a body.
type tmpl struct {
	t *template.Template
	// refs are the params the template refers to ({{.name}}, {{$.name}}).
	refs []string
	// envNames are the environment variables it reads ({{env "NAME"}}).
	envNames []string
}

// envError reports a variable that {{env "NAME"}} needs but that is not
// set. It names the variable, never a value.
type envError struct{ name string }

func (e *envError) Error() string {
	return fmt.Sprintf("environment variable %s is not set", e.name)
}

// envFunc returns the template function env: it looks name up and
// passes the value through encode (nil = as is). A missing variable is
// an *envError.
func envFunc(lookup func(string) (string, bool), encode func(string) string) func(string) (string, error) {
	return func(name string) (string, error) {
		v, ok := lookup(name)
		if !ok {
			return "", &envError{name: name}
		}
		if encode != nil {
			v = encode(v)
		}
		return v, nil
	}
}

// parseTemplate parses src, named key in errors. env, when not nil, is
// the env function; without it a template that calls env does not parse.
// A template may call env only as {{env "NAME"}} with a constant name:
// callers never choose which variable is read.
func parseTemplate(key, src string, env func(string) (string, error)) (*tmpl, error) {
	t := template.New(key).Option("missingkey=error")
	if env != nil {
		t = t.Funcs(template.FuncMap{"env": env})
	}
	t, err := t.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	out := &tmpl{t: t}
	var walkErr error
	for _, tr := range t.Templates() {
		if tr.Tree == nil || tr.Root == nil {
			continue
		}
		walk(tr.Root, func(n parse.Node) {
			switch n := n.(type) {
			case *parse.FieldNode:
				out.refs = append(out.refs, n.Ident[0])
			case *parse.VariableNode:
				if len(n.Ident) > 1 && n.Ident[0] == "$" {
					out.refs = append(out.refs, n.Ident[1])
				}
			case *parse.PipeNode:
				for i, c := range n.Cmds {
					for j, a := range c.Args {
						id, ok := a.(*parse.IdentifierNode)
						if !ok || id.Ident != "env" {
							continue
						}
						s, isStr := (parse.Node)(nil), false
						if len(c.Args) == 2 {
							s = c.Args[1]
							_, isStr = s.(*parse.StringNode)
						}
						if i != 0 || j != 0 || !isStr {
							walkErr = fmt.Errorf("%s: env must be called as {{env \"NAME\"}} with a constant name", key)
							continue
						}
						out.envNames = append(out.envNames, s.(*parse.StringNode).Text)
					}
				}
			}
		})
	}
	if walkErr != nil {
		return nil, walkErr
	}
	slices.Sort(out.refs)
	out.refs = slices.Compact(out.refs)
	slices.Sort(out.envNames)
	out.envNames = slices.Compact(out.envNames)
	return out, nil
}

// walk calls fn on n and every node below it.
func walk(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	case *parse.ChainNode:
		walk(n.Node, fn)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			walk(n.Pipe, fn)
		}
	}
}

func walkBranch(b *parse.BranchNode, fn func(parse.Node)) {
	walk(b.Pipe, fn)
	if b.List != nil {
		walk(b.List, fn)
	}
	if b.ElseList != nil {
		walk(b.ElseList, fn)
	}
}

// render executes the template on data.
func (t *tmpl) render(data map[string]string) (string, error) {
	var sb strings.Builder
	if err := t.t.Execute(&sb, data); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// renderError is a failure to render a template at call time. Its
// message is safe for the caller: the variable's name when one is
// missing, otherwise generic (the details go to the log).
func renderError(err error) string {
	var ee *envError
	if errors.As(err, &ee) {
		return "the tool is misconfigured: " + ee.Error()
	}
	return "the tool's templates could not be rendered for these arguments"
}
