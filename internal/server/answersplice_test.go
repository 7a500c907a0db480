package server

import (
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestWriteEscapedMatchesEncodingJSON: a text written piece by piece
// escapes to exactly the bytes encoding/json gives the whole string, for
// texts with every kind of character encoding/json treats specially
// (quotes, backslashes, controls, HTML, U+2028/9, invalid UTF-8, multi-byte
// runes across piece boundaries).
func TestWriteEscapedMatchesEncodingJSON(t *testing.T) {
	alphabet := []string{"a", "\"", "\\", "\n", "\x00", "\x1f", "<", ">", "&", "\u2028", "\u2029", "é", "€", "😀", "\xff", "\xe2\x82", "\x80"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		text string
	}{
		{name: "empty", text: ""},
		{name: "ascii over pieces", text: strings.Repeat("x", 3*splicePiece+7)},
		{name: "runes straddling piece ends", text: strings.Repeat("€", splicePiece)},
		{name: "random specials", text: func() string {
			var b strings.Builder
			for b.Len() < 3*splicePiece {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			return b.String()
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := writeEscaped(rec, tt.text); err != nil {
				t.Fatal(err)
			}
			if got := `"` + rec.Body.String() + `"`; got != string(want) {
				t.Fatalf("escaped text differs from encoding/json's (len %d vs %d)", len(got), len(want))
			}
		})
	}
}

// TestSpliceWriter: a response carrying tokens is written with their texts
// in place, byte for byte what encoding/json would have written for the
// original result; tokens that are not the splice's pass through.
func TestSpliceWriter(t *testing.T) {
	big := strings.Repeat("<ab\"c>\n", spliceMin/4)
	orig := mcp.NewToolResultText(big)
	blob := strings.Repeat("QUJD", spliceMin/2)
	orig.Content = append(orig.Content, mcp.NewTextContent("small"), &mcp.TextContent{Type: "text", Text: big + "2"},
		mcp.NewImageContent(blob, "image/png"), mcp.NewAudioContent(blob, "audio/wav"),
		mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: "x+a://b", Text: big}),
		mcp.NewEmbeddedResource(&mcp.BlobResourceContents{URI: "x+a://c", Blob: blob}))
	read := []mcp.ResourceContents{mcp.TextResourceContents{URI: "x+a://b", Text: big}, &mcp.BlobResourceContents{URI: "x+a://c", Blob: blob},
		mcp.TextResourceContents{URI: "x+a://d", Text: "small"}}
	sp := &answerSplice{}
	stashed := sp.stash(orig)
	stashedRead := sp.stashContents(read)
	if orig.Content[0].(mcp.TextContent).Text != big || read[0].(mcp.TextResourceContents).Text != big {
		t.Fatal("stash changed the original answer")
	}
	type both struct {
		Tool *mcp.CallToolResult
		Read mcp.ReadResourceResult
	}
	want, err := json.Marshal(mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(1), Result: both{orig, mcp.ReadResourceResult{Contents: read}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(1), Result: both{stashed, mcp.ReadResourceResult{Contents: stashedRead}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 4096 {
		t.Fatalf("stashed response is %d bytes, want the texts out of it", len(out))
	}
	rec := httptest.NewRecorder()
	w := &spliceWriter{ResponseWriter: rec, sp: sp}
	foreign := []byte(" " + spliceTokenPrefix + strings.Repeat("0", 32))
	n, err := w.Write(append(out, foreign...))
	if err != nil || n != len(out)+len(foreign) {
		t.Fatalf("Write = %d, %v; want %d", n, err, len(out)+len(foreign))
	}
	if got := rec.Body.String(); got != string(want)+string(foreign) {
		t.Fatalf("spliced response differs from encoding/json's (len %d vs %d)", len(got), len(want)+len(foreign))
	}
	if sp.pending() {
		t.Error("texts left in the splice after the write")
	}
}
