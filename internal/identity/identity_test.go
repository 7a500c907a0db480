package identity

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"
)

func TestFromWhoIs(t *testing.T) {
	ip := netip.MustParseAddr("100.64.0.7")
	user := &tailcfg.UserProfile{ID: 7, LoginName: "alice@example.com", DisplayName: "Alice"}
	tests := []struct {
		name    string
		w       *apitype.WhoIsResponse
		want    *Identity
		wantErr error
	}{
		{
			name: "user node",
			w:    &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "laptop.example.ts.net.", StableID: "n1"}, UserProfile: user},
			want: &Identity{LoginName: "alice@example.com", UserID: 7, DisplayName: "Alice", NodeName: "laptop.example.ts.net", NodeID: "n1", TailnetIP: ip},
		},
		{
			name: "tagged node ignores its user profile",
			w: &apitype.WhoIsResponse{
				Node:        &tailcfg.Node{Name: "ci.example.ts.net.", StableID: "n2", Tags: []string{"tag:z", "tag:ci"}},
				UserProfile: user,
			},
			want: &Identity{NodeName: "ci.example.ts.net", NodeID: "n2", Tags: []string{"tag:ci", "tag:z"}, TailnetIP: ip},
		},
		{
			name: "shared-in node",
			w:    &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "x.example.ts.net.", StableID: "n3", Sharer: 9}, UserProfile: user},
			want: &Identity{LoginName: "alice@example.com", UserID: 7, DisplayName: "Alice", NodeName: "x.example.ts.net", NodeID: "n3", TailnetIP: ip, Shared: true},
		},
		{
			name: "node of another tailnet",
			w:    &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "laptop.other.ts.net.", StableID: "n4"}, UserProfile: user},
			want: &Identity{LoginName: "alice@example.com", UserID: 7, DisplayName: "Alice", NodeName: "laptop.other.ts.net", NodeID: "n4", TailnetIP: ip, Shared: true},
		},
		{
			name: "suffix must match whole labels",
			w:    &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "laptop.notexample.ts.net.", StableID: "n5"}, UserProfile: user},
			want: &Identity{LoginName: "alice@example.com", UserID: 7, DisplayName: "Alice", NodeName: "laptop.notexample.ts.net", NodeID: "n5", TailnetIP: ip, Shared: true},
		},
		{
			name: "node name case differs",
			w:    &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "Laptop.EXAMPLE.ts.net.", StableID: "n6"}, UserProfile: user},
			want: &Identity{LoginName: "alice@example.com", UserID: 7, DisplayName: "Alice", NodeName: "Laptop.EXAMPLE.ts.net", NodeID: "n6", TailnetIP: ip},
		},
		{name: "nil answer", w: nil, wantErr: ErrIncomplete},
		{name: "no node", w: &apitype.WhoIsResponse{UserProfile: user}, wantErr: ErrIncomplete},
		{name: "untagged node without user", w: &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "x."}}, wantErr: ErrIncomplete},
		{name: "user without login", w: &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "x."}, UserProfile: &tailcfg.UserProfile{}}, wantErr: ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromWhoIs(tt.w, ip, "example.ts.net")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("got %+v with an error", got)
				}
				return
			}
			if got.LoginName != tt.want.LoginName || got.DisplayName != tt.want.DisplayName ||
				got.NodeName != tt.want.NodeName || got.NodeID != tt.want.NodeID ||
				!slices.Equal(got.Tags, tt.want.Tags) || got.TailnetIP != tt.want.TailnetIP || got.Shared != tt.want.Shared {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	a := &Identity{LoginName: "a@x", NodeID: "n1"}
	tests := []struct {
		name string
		b    *Identity
		want bool
	}{
		{"same", &Identity{LoginName: "a@x", NodeID: "n1"}, true},
		{"other node of the same user", &Identity{LoginName: "a@x", NodeID: "n2"}, false},
		{"other user on the same node", &Identity{LoginName: "b@x", NodeID: "n1"}, false},
		{"retagged node", &Identity{NodeID: "n1", Tags: []string{"tag:ci"}}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Equal(tt.b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("identity found in an empty context")
	}
	if _, ok := FromContext(NewContext(context.Background(), nil)); ok {
		t.Fatal("nil identity reported as present")
	}
	id := &Identity{LoginName: "a@x"}
	if got, ok := FromContext(NewContext(context.Background(), id)); !ok || got != id {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
}
