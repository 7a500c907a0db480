package cloudclient

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tsmcp/tsmcp/internal/testutil/fakessm"
)

// TestSSM makes clients against fakessm, which refuses unsigned
// requests: a parameter read proves the client took the region, the
// endpoint override and the credentials from the default chain.
func TestSSM(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T)
		err   string // a substring of SSM's error; "" means the parameter is read
	}{
		{name: "credentials and endpoint from the environment", setup: func(t *testing.T) {}},
		{name: "no credentials", setup: func(t *testing.T) {
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
				"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
				t.Setenv(k, "")
			}
		}, err: "no AWS credentials found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakessm.Use(t, map[string]string{"/tsmcp/p": "v"})
			tt.setup(t)
			c, err := SSM(t.Context())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("SSM: err = %v; want an error with %q", err, tt.err)
				}
				if asked := fs.Asked(); len(asked) != 0 {
					t.Fatalf("requests sent without credentials: %q", asked)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Options().Region; got != "eu-west-1" {
				t.Errorf("region = %q; want AWS_REGION's", got)
			}
			out, err := c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/tsmcp/p"), WithDecryption: aws.Bool(true)})
			if err != nil || aws.ToString(out.Parameter.Value) != "v" {
				t.Fatalf("GetParameter = %v, %v; want v from the fake", out, err)
			}
		})
	}
}
