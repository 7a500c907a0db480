package devnet_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
)

func TestNodesSeeEachOther(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:ci"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	a, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "b", Tags: []string{"tag:ci"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ln, err := a.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lc, err := a.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := lc.WhoIs(r.Context(), r.RemoteAddr)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, who.Node.Tags[0])
	})}
	go srv.Serve(ln)
	defer srv.Close()

	resp, err := b.HTTPClient().Get("http://" + a.IP.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "tag:ci" {
		t.Fatalf("a saw b as %q (status %d), want tag:ci", body, resp.StatusCode)
	}
}

// TestControlRefusesStrayRequests: testcontrol panics on unknown paths;
// the playground must survive a browser or scanner hitting it.
func TestControlRefusesStrayRequests(t *testing.T) {
	n, err := devnet.Start(devnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, path := range []string{"/", "/mcp", "/admin"} {
		resp, err := http.Get(n.ControlURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestLogin(t *testing.T) {
	if got, want := devnet.Login(2), "user-2@fake-control.example.net"; got != want {
		t.Fatalf("Login(2) = %q, want %q", got, want)
	}
}
