package audit

import (
	"context"
	"fmt"
	"testing"
)

// TestRecordCredential: what a handler records under WithCredentials is
// returned once per credential, in order; without WithCredentials nothing
// is kept.
func TestRecordCredential(t *testing.T) {
	RecordCredential(context.Background(), Credential{Kind: CredentialSecret, Name: "ignored"})
	ctx, creds := WithCredentials(context.Background())
	if got := creds(); got != nil {
		t.Errorf("credentials before any = %v", got)
	}
	a := Credential{Upstream: "jira", Kind: CredentialSecret, Name: "a"}
	b := Credential{Kind: CredentialSecret, Name: "b"}
	for _, c := range []Credential{a, b, a} {
		RecordCredential(ctx, c)
	}
	if got := creds(); fmt.Sprint(got) != fmt.Sprint([]Credential{a, b}) {
		t.Errorf("credentials = %v, want %v", got, []Credential{a, b})
	}
}
