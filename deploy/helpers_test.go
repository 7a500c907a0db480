package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrictJSON decodes b into v, refusing unknown fields, trailing
// data, and keys that match a field only case-insensitively: every key
// must be keyName(field) exactly. encoding/json alone would accept
// "CONTAINERDEFINITIONS" for ContainerDefinitions.
func decodeStrictJSON(b []byte, v any, keyName func(field string) string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	return checkKeys(raw, reflect.TypeOf(v), keyName, "")
}

// checkKeys walks raw (decoded JSON) alongside typ and reports object keys
// that are not exactly keyName of a struct field.
func checkKeys(raw any, typ reflect.Type, keyName func(string) string, path string) error {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch v := raw.(type) {
	case map[string]any:
		switch typ.Kind() {
		case reflect.Map:
			for k, e := range v {
				if err := checkKeys(e, typ.Elem(), keyName, path+"."+k); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			for i := range typ.NumField() {
				f := typ.Field(i)
				if f.IsExported() {
					fields[keyName(f.Name)] = f.Type
				}
			}
			for k, e := range v {
				ft, ok := fields[k]
				if !ok {
					return fmt.Errorf("%s: key %q is not spelled as its API field", path, k)
				}
				if err := checkKeys(e, ft, keyName, path+"."+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if typ.Kind() == reflect.Slice {
			for i, e := range v {
				if err := checkKeys(e, typ.Elem(), keyName, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func lowerCamel(s string) string { return strings.ToLower(s[:1]) + s[1:] }
func pascal(s string) string     { return s }

// loadConfig loads a tsmcp config file
// content (and env) with internal/config exactly as `tsmcp serve` would,
// failing the test on any validation error. The test's own environment
// does not take part: every variable Load reads is cleared first, so only
// the manifest's env applies.
func loadConfig(t *testing.T, name, content string, env map[string]string) *config.Config {
	t.Helper()
	file := "" // written before env applies: env may set TMPDIR
	if content != "" {
		file = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range config.EnvVars() {
		t.Setenv(v, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(config.LoadOptions{File: file})
	if err != nil {
		t.Fatalf("%s: the deployed configuration is invalid: %v", name, err)
	}
	return cfg
}

// tsnetCloseMargin is how long closing the tsnet node may take after the
// grace period (tsnet waits up to 5 s for its log upload).
const tsnetCloseMargin = 5 * time.Second
