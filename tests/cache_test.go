package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/provenance"
)

// cacheVerifyArgs are the verification options the cache tests give both
// kettle cache commands: the e2e bundles' simulated evidence, measurement
// and nonce.
var cacheVerifyArgs = []string{"--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce}

// nixKeys makes a signing key with the real nix and returns the key file
// and the public key.
func nixKeys(t *testing.T, name string) (secretFile, public string) {
	t.Helper()
	dir := t.TempDir()
	secret := nixCmd(t, dir, "key", "generate-secret", "--key-name", name)
	secretFile = filepath.Join(dir, "key.sec")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix", "key", "convert-secret-to-public")
	cmd.Stdin = strings.NewReader(secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix key convert-secret-to-public: %v", err)
	}
	return secretFile, strings.TrimSpace(string(out))
}

// exportReport is the part of `kettle cache export --json` the tests read.
type exportReport struct {
	Created bool `json:"created"`
	Bundles []struct {
		Bundle   string `json:"bundle"`
		File     string `json:"file"`
		Verified bool   `json:"verified"`
	} `json:"bundles"`
	Paths []struct {
		StorePath      string   `json:"storePath"`
		Bundle         string   `json:"bundle"`
		BundleFile     string   `json:"bundleFile"`
		BundleVerified bool     `json:"bundleVerified"`
		From           string   `json:"from"`
		NarInfo        string   `json:"narinfo"`
		URL            string   `json:"url"`
		References     []string `json:"references"`
		ReferencesFrom string   `json:"referencesFrom"`
	} `json:"paths"`
}

// cacheVerifyReport is the part of `kettle cache verify --json` the tests
// read.
type cacheVerifyReport struct {
	OK     bool     `json:"ok"`
	Errors []string `json:"errors"`
	Paths  []struct {
		StorePath string `json:"storePath"`
		OK        bool   `json:"ok"`
		Error     string `json:"error"`
	} `json:"paths"`
	Bundles []struct {
		File    string `json:"file"`
		OK      bool   `json:"ok"`
		Verdict string `json:"verdict"`
	} `json:"bundles"`
}

func exportCache(t *testing.T, args ...string) exportReport {
	t.Helper()
	r := kettle(t, append(append([]string{"cache", "export", "--json"}, cacheVerifyArgs...), args...)...)
	if r.code != 0 {
		t.Fatalf("kettle cache export %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	var rep exportReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("kettle cache export --json: %v\n%s", err, r.stdout)
	}
	return rep
}

func verifyCache(t *testing.T, dir, pub string) (cacheVerifyReport, result) {
	t.Helper()
	r := kettle(t, append(append([]string{"cache", "verify", "--json", "--pubkey", pub}, cacheVerifyArgs...), dir)...)
	var rep cacheVerifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("kettle cache verify --json: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rep, r
}

// nixCopyFrom runs the real `nix copy --from file://CACHE` of path into a
// fresh chroot store, signatures required and only pub trusted, and
// returns Nix's error, "" if it took the path.
func nixCopyFrom(t *testing.T, cache, pub, path string) string {
	t.Helper()
	root, err := os.MkdirTemp(e2e.tmp, "store-") // removed with e2e.tmp: nix makes it read-only
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix", "copy", "--from", "file://"+cache, "--to", root,
		"--option", "require-sigs", "true", "--option", "trusted-public-keys", pub, path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndex(msg, "\nerror: "); i >= 0 {
			msg = msg[i+1:]
		}
		return msg
	}
	// The path, and its closure, are in the new store.
	got := nixCmd(t, "/", "path-info", "-r", "--store", root, path)
	if want := nixCmd(t, "/", "path-info", "-r", path); got != want {
		t.Errorf("closure of %s in the new store:\n%s\nin the machine's:\n%s", path, got, want)
	}
	return ""
}

// copyCache copies a cache so that a test can change the copy.
func copyCache(t *testing.T, dir string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "cache")
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return cp
}

func editNarInfo(t *testing.T, file string, edit func(n *nixcache.NarInfo)) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := nixcache.ParseNarInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(n)
	text, err := n.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, text, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCacheExportNixCopy(t *testing.T) {
	hello := buildHello(t)
	keyFile, pub := nixKeys(t, "kettle-e2e-cache-1")
	helloPath := subjectOf(t, hello)
	work := t.TempDir()

	// The bundle carries hello; busybox-bin, which hello refers to, and
	// the busybox input it refers to are attested (an output and a src
	// leaf) but not carried: without --store, refused.
	cache := filepath.Join(work, "cache")
	r := kettle(t, append(append([]string{"cache", "export"}, cacheVerifyArgs...), "--to", cache, "--key", keyFile, hello)...)
	if r.code != 1 || !strings.Contains(r.stderr, "-busybox-bin (attested by the output leaf (by=nix-db) of bundle "+hello+") is not carried by any bundle: give --store") {
		t.Fatalf("export without --store: exit %d, want 1 naming busybox-bin\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(cache); err == nil {
		t.Fatal("a refused export left a cache")
	}

	rep := exportCache(t, "--store", "--to", cache, "--key", keyFile, hello)
	t.Logf("exported: %+v", rep.Paths)
	if !rep.Created || len(rep.Paths) != 3 || rep.Paths[2].StorePath != helloPath {
		t.Fatalf("export: %+v", rep)
	}
	for _, p := range rep.Paths {
		wantFrom := "local store" // busybox-bin and the busybox input, not carried
		if p.StorePath == helloPath {
			wantFrom = "artifacts/"
		}
		if !strings.HasPrefix(p.From, wantFrom) || p.ReferencesFrom != "local store" || !p.BundleVerified || !strings.HasSuffix(p.URL, ".nar.xz") {
			t.Errorf("%s: %+v", p.StorePath, p)
		}
	}

	// The real nix takes hello and its closure from the cache, with
	// signatures required and only the key trusted.
	if msg := nixCopyFrom(t, cache, pub, helloPath); msg != "" {
		t.Fatalf("nix copy refused the cache: %s", msg)
	}
	vr, res := verifyCache(t, cache, pub)
	if res.code != 0 || !vr.OK || len(vr.Paths) != 3 || len(vr.Bundles) != 1 {
		t.Fatalf("kettle cache verify: exit %d, %+v\n%s", res.code, vr, res.stderr)
	}
	// The human report says the same.
	r = kettle(t, append(append([]string{"cache", "verify", "--pubkey", pub}, cacheVerifyArgs...), cache)...)
	if r.code != 0 || !strings.Contains(r.stdout, "VERIFIED: 3 path(s), 1 bundle(s)") || strings.Count(r.stdout, "  OK  ") != 3 {
		t.Errorf("kettle cache verify (table): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Each tampering: nix refuses the path and kettle cache verify names why.
	helloInfo := filepath.Join(cache, rep.Paths[2].NarInfo)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		nixErr string // in nix's error
		why    string // in kettle's error for hello
	}{
		{"narinfo with another NarHash", func(t *testing.T, dir string) {
			editNarInfo(t, filepath.Join(dir, filepath.Base(helloInfo)), func(n *nixcache.NarInfo) { n.NarHash[3] ^= 1 })
		}, "lacks a valid signature", `signature by key "kettle-e2e-cache-1" does not verify`},
		{"a NAR byte flipped", func(t *testing.T, dir string) {
			p := filepath.Join(dir, rep.Paths[2].URL)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		}, "", "FileHash says"},
		{"a bad signature", func(t *testing.T, dir string) {
			editNarInfo(t, filepath.Join(dir, filepath.Base(helloInfo)), func(n *nixcache.NarInfo) { n.Sigs[0].Sig[10] ^= 1 })
		}, "lacks a valid signature", `signature by key "kettle-e2e-cache-1" does not verify`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyCache(t, cache)
			tc.tamper(t, dir)
			msg := nixCopyFrom(t, dir, pub, helloPath)
			t.Logf("nix copy says: %s", msg)
			if msg == "" || !strings.Contains(msg, tc.nixErr) {
				t.Errorf("nix copy: %q, want a refusal mentioning %q", msg, tc.nixErr)
			}
			vr, res := verifyCache(t, dir, pub)
			if res.code != 1 || vr.OK {
				t.Fatalf("kettle cache verify accepted it: exit %d", res.code)
			}
			for _, p := range vr.Paths {
				if p.StorePath == helloPath {
					t.Logf("kettle cache verify says: %s", p.Error)
					if p.OK || !strings.Contains(p.Error, tc.why) {
						t.Errorf("hello: ok %t, error %q; want one mentioning %q", p.OK, p.Error, tc.why)
					}
				}
			}
		})
	}

	// zstd NAR files: Nix 2.8 reads them too.
	t.Run("zstd", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cache")
		rep := exportCache(t, "--store", "--compression", "zstd", "--to", dir, "--key", keyFile, hello)
		if !strings.HasSuffix(rep.Paths[2].URL, ".nar.zst") {
			t.Errorf("URL %s, want a .nar.zst", rep.Paths[2].URL)
		}
		if msg := nixCopyFrom(t, dir, pub, helloPath); msg != "" {
			t.Errorf("nix copy refused the zstd cache: %s", msg)
		}
	})

	// A key in the wrong format is a usage error naming the file, and
	// nothing is written.
	t.Run("bad key", func(t *testing.T) {
		pubFile := filepath.Join(t.TempDir(), "key.pub")
		os.WriteFile(pubFile, []byte(pub+"\n"), 0o644)
		dir := filepath.Join(t.TempDir(), "cache")
		r := kettle(t, append(append([]string{"cache", "export"}, cacheVerifyArgs...), "--store", "--to", dir, "--key", pubFile, hello)...)
		if r.code != 2 || !strings.Contains(r.stderr, pubFile+": a public key, not the secret key") {
			t.Errorf("export with a public key as --key: exit %d\n%s", r.code, r.stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Error("a refused export left a cache")
		}
		r = kettle(t, "cache", "verify", "--pubkey", keyFile, cache)
		if r.code != 2 || !strings.Contains(r.stderr, keyFile+": a secret key, not a public key") || strings.Contains(r.stderr, "kettle-e2e-cache-1:") {
			t.Errorf("verify with a secret key as --pubkey: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// subjectOf returns the store path of a bundle's one subject.
func subjectOf(t *testing.T, bundle string) string {
	t.Helper()
	b, err := provenance.OpenBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	st, err := provenance.DecodeStatement(b.Provenance)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Subjects) != 1 {
		t.Fatalf("%s: %d subjects, want 1", bundle, len(st.Subjects))
	}
	return st.Subjects[0].Name
}

func TestCacheExportRefusesUnverified(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "hello.bundle")
	copyTree(t, buildHello(t), bundle)
	p := filepath.Join(bundle, "provenance.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const attr = `"attribute": "`
	if !strings.Contains(string(data), attr) {
		t.Fatalf("provenance.json has no %s", attr)
	}
	os.WriteFile(p, []byte(strings.Replace(string(data), attr, attr+"x", 1)), 0o644)
	keyFile, pub := nixKeys(t, "kettle-e2e-cache-2")

	dir := filepath.Join(t.TempDir(), "cache")
	r := kettle(t, append(append([]string{"cache", "export"}, cacheVerifyArgs...), "--store", "--to", dir, "--key", keyFile, bundle)...)
	if r.code != 1 || !strings.Contains(r.stderr, bundle+" does not verify: FAILED at binding") {
		t.Fatalf("export of a tampered bundle: exit %d, want 1 naming the binding\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a refused export left a cache")
	}

	// With --allow-unverified it is exported, and every output says so.
	r = kettle(t, append(append([]string{"cache", "export"}, cacheVerifyArgs...), "--allow-unverified", "--store", "--to", dir, "--key", keyFile, bundle)...)
	if r.code != 0 {
		t.Fatalf("export --allow-unverified: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("export --allow-unverified:\n%s", r.stdout)
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "/nix/store/") && !strings.Contains(line, "UNVERIFIED") {
			t.Errorf("a line on a path of the unverified bundle does not say UNVERIFIED: %s", line)
		}
	}
	if !strings.Contains(r.stdout, "3 of them UNVERIFIED: their bundles do not verify") || !strings.Contains(r.stdout, "WARN bundle "+bundle+" does NOT verify") {
		t.Errorf("the summary does not say UNVERIFIED:\n%s", r.stdout)
	}
	vr, res := verifyCache(t, dir, pub)
	if res.code != 1 || vr.OK {
		t.Fatalf("kettle cache verify accepted a cache of an unverified bundle: %+v", vr)
	}
	for _, p := range vr.Paths {
		if p.OK || !strings.Contains(p.Error, "does not verify: FAILED at binding") {
			t.Errorf("%s: %+v", p.StorePath, p)
		}
	}
}

// TestCacheBadInput: usage errors exit 2 naming the flag, a cache that
// cannot be read exits 1 naming the file; neither writes anything.
func TestCacheBadInput(t *testing.T) {
	dir := t.TempDir()
	key, err := nixcache.GenerateKey("kettle-e2e-bad-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.sec")
	os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	cache := filepath.Join(dir, "cache")
	bundle := filepath.Join(dir, "no.bundle")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cache"}, 2, "missing command"},
		{[]string{"cache", "import"}, 2, "unknown command"},
		{[]string{"cache", "export", "--to", cache, "--key", keyFile}, 2, "requires at least 1 arg"},
		{[]string{"cache", "export", "--key", keyFile, bundle}, 2, "--to"},
		{[]string{"cache", "export", "--to", cache, bundle}, 2, "--key"},
		{[]string{"cache", "export", "--to", cache, "--key", keyFile, "--compression", "gzip", bundle}, 2, "--compression \"gzip\""},
		{[]string{"cache", "export", "--to", cache, "--key", garbage, bundle}, 2, garbage + ": secret key"},
		{[]string{"cache", "export", "--to", cache, "--key", dir, bundle}, 2, "not a regular file"},
		{[]string{"cache", "export", "--to", cache, "--key", keyFile, "--nonce", "zz", bundle}, 2, "--nonce"},
		{[]string{"cache", "export", "--to", cache, "--key", keyFile, bundle}, 1, bundle},
		{[]string{"cache", "verify", cache}, 2, "--pubkey"},
		{[]string{"cache", "verify", "--pubkey", "name:AAAA", cache}, 2, "neither a public key nor a file"},
		{[]string{"cache", "verify", "--pubkey", garbage, cache}, 2, garbage},
		{[]string{"cache", "verify", "--pubkey", key.PublicKey().String()}, 2, "accepts 1 arg"},
		{[]string{"cache", "verify", "--pubkey", key.PublicKey().String(), cache}, 1, filepath.Join(cache, "nix-cache-info")},
	} {
		r := kettle(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("kettle %s: exit %d, want %d with an error mentioning %q\n%s", strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.stderr)
		}
	}
	if _, err := os.Stat(cache); err == nil {
		t.Error("a refused command wrote the cache")
	}
}
