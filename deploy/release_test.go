package deploy_test

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// releaseDistEnv names the dist directory of a GoReleaser snapshot
// (.ci/release-check, `make release-snapshot`) for TestReleaseArchives.
const releaseDistEnv = "RELEASE_DIST" // not TSMCP_: tsmcp refuses unknown TSMCP_ variables

// releaseTargetsEnv names the platforms the snapshot was built for, as
// goos/goarch separated by commas (.ci/run builds linux/amd64 alone);
// unset, the snapshot holds every one of releaseTargets.
const releaseTargetsEnv = "RELEASE_TARGETS"

// releaseTarget is one platform of the release archives.
type releaseTarget struct{ goos, goarch string }

func (tg releaseTarget) String() string { return tg.goos + "/" + tg.goarch }

// releaseTargets are the platforms .goreleaser.yaml builds
// (TestReleaseConfigTargets).
var releaseTargets = []releaseTarget{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// TestReleaseConfigTargets: .goreleaser.yaml builds exactly
// releaseTargets, its goos list times its goarch list (checked without a
// snapshot, so that CI, which builds linux/amd64 alone, still sees the
// matrix a release builds).
func TestReleaseConfigTargets(t *testing.T) {
	var cfg struct {
		Builds []struct {
			ID      string   `yaml:"id"`
			Goos    []string `yaml:"goos"`
			Goarch  []string `yaml:"goarch"`
			Targets []string `yaml:"targets"`
			Ignore  []any    `yaml:"ignore"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal(readFile(t, ".goreleaser.yaml"), &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf(".goreleaser.yaml has %d builds, want 1", len(cfg.Builds))
	}
	b := cfg.Builds[0]
	if len(b.Targets) > 0 || len(b.Ignore) > 0 {
		t.Fatalf("build %s sets targets %v or ignore %v: want the goos and goarch lists only (.ci/release-check replaces them for RELEASE_TARGETS)", b.ID, b.Targets, b.Ignore)
	}
	var got []releaseTarget
	for _, goos := range b.Goos {
		for _, goarch := range b.Goarch {
			got = append(got, releaseTarget{goos, goarch})
		}
	}
	if !sameTargets(got, releaseTargets) {
		t.Errorf(".goreleaser.yaml builds %v, want %v", got, releaseTargets)
	}
}

// snapshotTargets returns the platforms RELEASE_TARGETS names (every
// one of releaseTargets when it is unset); a name that is not a release
// platform fails the test.
func snapshotTargets(t *testing.T) []releaseTarget {
	t.Helper()
	v := os.Getenv(releaseTargetsEnv)
	if v == "" {
		return releaseTargets
	}
	var want []releaseTarget
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		i := slices.IndexFunc(releaseTargets, func(tg releaseTarget) bool { return tg.String() == s })
		if i < 0 {
			t.Fatalf("%s=%q: %q is not one of the release platforms %v", releaseTargetsEnv, v, s, releaseTargets)
		}
		if slices.Contains(want, releaseTargets[i]) {
			t.Fatalf("%s=%q names %s twice", releaseTargetsEnv, v, s)
		}
		want = append(want, releaseTargets[i])
	}
	return want
}

// sameTargets reports whether a and b hold the same platforms.
func sameTargets(a, b []releaseTarget) bool {
	key := func(tg releaseTarget) string { return tg.String() }
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i] = key(a[i])
	}
	for i := range b {
		bs[i] = key(b[i])
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// TestReleaseArchives checks what a GoReleaser snapshot produced: exactly
// the archives of the platforms RELEASE_TARGETS names (all six when it is
// unset; zip for windows), each with the binary, README, LICENSE,
// CHANGELOG and docs/ pages of this tree; the binaries built static with
// -trimpath and the version stamped; a checksums file that matches every
// archive; a CycloneDX JSON SBOM per binary naming the modules linked in;
// and the linux/amd64 binary's `tsmcp version` showing the snapshot
// version and commit. The archives GoReleaser lists in artifacts.json
// must be the same ones. Without RELEASE_DIST it fails when CI is set
// (.ci/run builds the snapshot) and is skipped otherwise.
func TestReleaseArchives(t *testing.T) {
	dist := os.Getenv(releaseDistEnv)
	if dist == "" {
		msg := releaseDistEnv + " is not set; run `make release-snapshot` (it builds dist/ and runs this test)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so .ci/run must build the snapshot)")
		}
		t.Skip(msg)
	}
	targets := snapshotTargets(t)
	var meta struct {
		ProjectName string `json:"project_name"`
		Version     string `json:"version"`
		Commit      string `json:"commit"`
	}
	if err := json.Unmarshal(readPath(t, filepath.Join(dist, "metadata.json")), &meta); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	if meta.ProjectName != "tsmcp" || !strings.Contains(meta.Version, "-snapshot.") || meta.Commit == "" {
		t.Fatalf("metadata.json = %+v, want project tsmcp, a snapshot version and a commit", meta)
	}
	wantVersion := "v" + meta.Version
	root := testutil.RepoRoot(t)
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if meta.Commit != strings.TrimSpace(string(head)) {
		t.Fatalf("snapshot of commit %q, want this tree's HEAD %s", meta.Commit, head)
	}

	// archiveName is the archive GoReleaser makes for tg, and the binary
	// in it.
	archiveName := func(tg releaseTarget) (name, bin string) {
		if tg.goos == "windows" {
			return fmt.Sprintf("tsmcp_%s_%s_%s.zip", meta.Version, tg.goos, tg.goarch), "tsmcp.exe"
		}
		return fmt.Sprintf("tsmcp_%s_%s_%s.tar.gz", meta.Version, tg.goos, tg.goarch), "tsmcp"
	}
	var want []string
	for _, tg := range targets {
		name, _ := archiveName(tg)
		want = append(want, name)
	}
	slices.Sort(want)
	archives, err := filepath.Glob(filepath.Join(dist, "tsmcp_*"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, a := range archives {
		if strings.HasSuffix(a, ".tar.gz") || strings.HasSuffix(a, ".zip") {
			found = append(found, filepath.Base(a))
		}
	}
	slices.Sort(found)
	if !slices.Equal(found, want) {
		t.Errorf("archives in %s: %v, want %v (%s=%q)", dist, found, want, releaseTargetsEnv, os.Getenv(releaseTargetsEnv))
	}
	var artifacts []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(readPath(t, filepath.Join(dist, "artifacts.json")), &artifacts); err != nil {
		t.Fatalf("artifacts.json: %v", err)
	}
	var listed []string
	for _, a := range artifacts {
		if a.Type == "Archive" {
			listed = append(listed, a.Name)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("artifacts.json lists the archives %v, want %v", listed, want)
	}
	sums := readChecksums(t, filepath.Join(dist, "tsmcp_"+meta.Version+"_checksums.txt"))

	// The documents every archive holds: README links to the docs/ pages.
	docs := []string{"README.md", "LICENSE", "CHANGELOG.md"}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md pages in %s: %v", root, err)
	}
	for _, p := range pages {
		docs = append(docs, "docs/"+filepath.Base(p))
	}
	for _, tg := range targets {
		name, bin := archiveName(tg)
		t.Run(tg.String(), func(t *testing.T) {
			path := filepath.Join(dist, name)
			files := readArchive(t, path)
			for _, doc := range docs {
				if !bytes.Equal(files[doc], readPath(t, filepath.Join(root, doc))) {
					t.Errorf("%s: %s missing or not this tree's", name, doc)
				}
			}
			if len(files) != len(docs)+1 || files[bin] == nil {
				var names []string
				for n := range files {
					names = append(names, n)
				}
				t.Errorf("%s holds %v, want %s and the documents %v", name, names, bin, docs)
			}
			checkReleaseBinary(t, files[bin], tg.goos, tg.goarch, wantVersion)

			sum := sha256.Sum256(readPath(t, path))
			if got, ok := sums[name]; !ok || got != hex.EncodeToString(sum[:]) {
				t.Errorf("checksums file: %s = %q (listed %v), want %x", name, got, ok, sum)
			}
			checkSBOM(t, strings.TrimSuffix(strings.TrimSuffix(path, ".tar.gz"), ".zip")+".sbom.json")

			if tg.goos == runtime.GOOS && tg.goarch == runtime.GOARCH {
				exe := filepath.Join(t.TempDir(), bin)
				if err := os.WriteFile(exe, files[bin], 0o755); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(exe, "version").CombinedOutput()
				if err != nil {
					t.Fatalf("tsmcp version: %v\n%s", err, out)
				}
				lines := strings.Split(string(out), "\n")
				if lines[0] != "tsmcp "+wantVersion || !strings.Contains(string(out), "commit     "+meta.Commit+"\n") {
					t.Errorf("tsmcp version printed\n%s\nwant tsmcp %s, commit %s", out, wantVersion, meta.Commit)
				}
			}
		})
	}
	// Every file the checksums name exists with that checksum.
	for name, want := range sums {
		sum := sha256.Sum256(readPath(t, filepath.Join(dist, name)))
		if hex.EncodeToString(sum[:]) != want {
			t.Errorf("checksums file: %s does not match", name)
		}
	}
}

// checkReleaseBinary checks a release binary's build: its platform,
// CGO_ENABLED=0, -trimpath and the version stamped through -ldflags (as
// the Dockerfile builds it); a linux binary has no ELF interpreter (it is
// static), no symbols and no DWARF (-s -w).
func checkReleaseBinary(t *testing.T, b []byte, goos, goarch, version string) {
	t.Helper()
	if len(b) == 0 {
		return
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], want)
		}
	}
	// With -trimpath the toolchain does not record -ldflags: the stamped
	// version is looked for in the binary itself.
	if !bytes.Contains(b, []byte(version)) {
		t.Errorf("binary does not contain its version %s (-X main.version)", version)
	}
	if bi.Main.Path != "github.com/tsmcp/tsmcp" || bi.Path != "github.com/tsmcp/tsmcp/cmd/tsmcp" {
		t.Errorf("built %s from module %s, want cmd/tsmcp of github.com/tsmcp/tsmcp", bi.Path, bi.Main.Path)
	}
	if goos == "linux" {
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("linux binary has an ELF interpreter: not static")
			}
		}
		// -s -w: no symbol table, no DWARF.
		if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
			t.Errorf("linux binary has a symbol table (built without -s): %v", err)
		}
		if f.Section(".debug_info") != nil {
			t.Errorf("linux binary has DWARF (built without -w)")
		}
	}
}

// checkSBOM checks that path is a CycloneDX JSON document that lists the
// modules of the binary (tailscale.com among them, at go.mod's version).
func checkSBOM(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("SBOM: %v", err)
		return
	}
	var doc struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Errorf("SBOM %s is not JSON: %v", filepath.Base(path), err)
		return
	}
	if doc.BOMFormat != "CycloneDX" {
		t.Errorf("SBOM %s: bomFormat %q, want CycloneDX", filepath.Base(path), doc.BOMFormat)
	}
	want := goModVersion(t, "tailscale.com")
	for _, c := range doc.Components {
		if c.Name == "tailscale.com" && c.Version == want && strings.HasPrefix(c.PURL, "pkg:golang/tailscale.com@"+want) {
			return
		}
	}
	t.Errorf("SBOM %s does not list tailscale.com %s among its %d components", filepath.Base(path), want, len(doc.Components))
}

// goModVersion returns the version go.mod requires of module path.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, "go.mod")), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == path || len(f) >= 3 && f[0] == "require" && f[1] == path) {
			return f[len(f)-1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// readChecksums parses a GoReleaser checksums file ("<sha256>  <name>").
func readChecksums(t *testing.T, path string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readPath(t, path)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != 64 {
			t.Fatalf("checksums file: bad line %q", sc.Text())
		}
		sums[f[1]] = f[0]
	}
	return sums
}

// readArchive returns the regular files of a .tar.gz or .zip by name.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %s: %v", path, f.Name, err)
			}
			files[f.Name] = b
		}
		return files
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		files[h.Name] = b
	}
	return files
}

func readPath(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
