// Command conformance-client is an MCP client authorizing with
// internal/oauth, for the official MCP conformance suite's client
// authorization scenarios (`conformance client --suite auth --command
// "conformance-client"`): the suite runs it with the scenario server's MCP
// URL as its last argument, the scenario's name in
// MCP_CONFORMANCE_SCENARIO and its data (a pre-registered client) in
// MCP_CONFORMANCE_CONTEXT.
//
// It plays one identity and its browser: an operation the upstream refuses
// with *oauth.AuthorizationRequiredError is answered by Manager.Start, a
// GET of the authorization URL (the suite's authorization server approves
// at once and redirects to this command's loopback callback, which calls
// Manager.Finish), and the operation again. It initializes, lists the
// tools and calls the first; it exits 1 on any error.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"tailscale.com/ipn/store/mem"

	"github.com/tsmcp/tsmcp/internal/oauth"
)

// metadataURL is the Client ID Metadata Document URL the suite's
// basic-cimd scenario expects as the client_id (it does not fetch it).
const metadataURL = "https://conformance-test.local/client-metadata.json"

// identity is the one caller this command plays.
const identity = "conformance-user"

// maxAuthorizations bounds the authorizations of one operation.
const maxAuthorizations = 4

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance-client MCP-URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mcpURL string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("scenario", "name", os.Getenv("MCP_CONFORMANCE_SCENARIO"), "url", mcpURL)

	up := oauth.Upstream{Name: "conformance", URL: mcpURL}
	if s := os.Getenv("MCP_CONFORMANCE_CONTEXT"); s != "" {
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
		up.ClientID, up.ClientSecret = c.ClientID, c.ClientSecret
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	key := make([]byte, oauth.KeySize)
	rand.Read(key)
	store, err := oauth.NewStore(&mem.Store{}, key)
	if err != nil {
		return err
	}
	m, err := oauth.NewManager(oauth.Config{
		Store:             store,
		RedirectURL:       "http://" + ln.Addr().String() + "/callback",
		ClientMetadataURL: metadataURL,
		ClientName:        "tsmcp conformance client",
		Logger:            log,
	})
	if err != nil {
		return err
	}

	finished := make(chan error, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		conn, err := m.Finish(r.Context(), identity, oauth.CallbackFromQuery(r.URL.Query()))
		finished <- err
		if err != nil {
			http.Error(w, "authorization failed", http.StatusBadRequest)
			return
		}
		log.Info("connected", "scopes", conn.Scopes, "expiry", conn.Expiry)
		fmt.Fprintln(w, "connected")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// browser follows the authorization URL to the callback.
	browser := &http.Client{Timeout: 10 * time.Second}
	authorize := func() error {
		a, err := m.Start(ctx, identity, &up)
		if err != nil {
			return err
		}
		resp, err := browser.Get(a.URL)
		if err != nil {
			return fmt.Errorf("following the authorization URL: %w", err)
		}
		resp.Body.Close()
		select {
		case err := <-finished:
			return err
		default:
			return fmt.Errorf("the authorization did not reach the callback (HTTP %d)", resp.StatusCode)
		}
	}
	// withAuth runs op, authorizing while the upstream asks for it.
	withAuth := func(what string, op func() error) error {
		for i := 0; ; i++ {
			err := op()
			var are *oauth.AuthorizationRequiredError
			if !errors.As(err, &are) {
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				return nil
			}
			if i == maxAuthorizations {
				return fmt.Errorf("%s: still unauthorized after %d authorizations: %w", what, i, err)
			}
			log.Info("authorization required", "op", what, "reason", are.Reason, "scopes", are.Scopes)
			if err := authorize(); err != nil {
				return fmt.Errorf("%s: authorizing: %w", what, err)
			}
		}
	}

	hc := &http.Client{Transport: m.Transport(identity, up, nil)}
	cl, err := client.NewStreamableHttpClient(mcpURL, transport.WithHTTPBasicClient(hc))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Start(ctx); err != nil {
		return err
	}
	if err := withAuth("initialize", func() error {
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
		init.Params.ClientInfo = mcp.Implementation{Name: "tsmcp-conformance-client", Version: "1"}
		_, err := cl.Initialize(ctx, init)
		return err
	}); err != nil {
		return err
	}
	var tools []mcp.Tool
	if err := withAuth("tools/list", func() error {
		res, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
		if err == nil {
			tools = res.Tools
		}
		return err
	}); err != nil {
		return err
	}
	if len(tools) == 0 {
		return nil
	}
	return withAuth("tools/call", func() error {
		req := mcp.CallToolRequest{}
		req.Params.Name = tools[0].Name
		_, err := cl.CallTool(ctx, req)
		return err
	})
}
