package nixinputs

import (
	"strings"
	"testing"
)

// Captured from Nix 2.8 on this machine.
const (
	metaPath28 = `{"lastModified":1795428891,"locked":{"lastModified":1795428891,"narHash":"sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=","path":"/tmp/ha/flake","type":"path"},"locks":{"nodes":{"busybox":{"flake":false,"locked":{"lastModified":1778186025,"narHash":"sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k=","path":"/bin/busybox","type":"path"},"original":{"path":"/bin/busybox","type":"path"}},"root":{"inputs":{"busybox":"busybox"}}},"root":"root","version":7},"original":{"path":"/tmp/ha/flake","type":"path"},"originalUrl":"path:/tmp/ha/flake","path":"/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source","resolved":{"path":"/tmp/ha/flake","type":"path"},"resolvedUrl":"path:/tmp/ha/flake","url":"path:/tmp/ha/flake?lastModified=1795428891&narHash=sha256-XvuGgpP%2fUylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw="}`
	metaGit28  = `{"lastModified":1795428903,"locked":{"lastModified":1795428903,"narHash":"sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=","ref":"master","rev":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2","revCount":1,"type":"git","url":"file:///tmp/ha/gflake"},"locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"type":"git","url":"file:///tmp/ha/gflake"},"originalUrl":"git+file:///tmp/ha/gflake","path":"/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source","resolved":{"type":"git","url":"file:///tmp/ha/gflake"},"resolvedUrl":"git+file:///tmp/ha/gflake","revCount":1,"revision":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2","url":"git+file:///tmp/ha/gflake?ref=master&rev=831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2"}`
	// A dirty work tree on Nix 2.8: no rev anywhere.
	metaDirty28 = `{"lastModified":1795428903,"locked":{"lastModified":1795428903,"narHash":"sha256-fS8RAKfjellb+K6TcYj1L9FxcIuzKySHbyvGQPEfj/o=","type":"git","url":"file:///tmp/ha/gflake"},"locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"type":"git","url":"file:///tmp/ha/gflake"},"originalUrl":"git+file:///tmp/ha/gflake","path":"/nix/store/ljfy55p9jn617jjvzc1k8mf0apppwjnl-source","resolved":{"type":"git","url":"file:///tmp/ha/gflake"},"resolvedUrl":"git+file:///tmp/ha/gflake","url":"git+file:///tmp/ha/gflake"}`
	// A dirty work tree on newer Nix: dirtyRev and dirtyRevision.
	metaDirtyNew = `{"dirtyRevision":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2-dirty","lastModified":1795428903,"locked":{"dirtyRev":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2-dirty","dirtyShortRev":"831f111-dirty","lastModified":1795428903,"narHash":"sha256-fS8RAKfjellb+K6TcYj1L9FxcIuzKySHbyvGQPEfj/o=","type":"git","url":"file:///tmp/ha/gflake"},"locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"type":"git","url":"file:///tmp/ha/gflake"},"originalUrl":"git+file:///tmp/ha/gflake","path":"/nix/store/ljfy55p9jn617jjvzc1k8mf0apppwjnl-source","resolved":{"type":"git","url":"file:///tmp/ha/gflake"},"resolvedUrl":"git+file:///tmp/ha/gflake","url":"git+file:///tmp/ha/gflake"}`
	// A github flake as newer Nix reports it (lockedUrl next to url).
	metaGitHubNew = `{"description":"x","fingerprint":"abc","lastModified":1700000000,"locked":{"lastModified":1700000000,"narHash":"sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg=","owner":"o","repo":"r","rev":"0123456789abcdef0123456789abcdef01234567","type":"github"},"lockedUrl":"github:o/r/0123456789abcdef0123456789abcdef01234567?narHash=sha256-ObCKG2zzWU17R7Pd7H%2BO2TPDYBYZ0ADUFxGYF0sP8dg%3D","locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"owner":"o","repo":"r","type":"github"},"originalUrl":"github:o/r","path":"/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source","resolved":{"owner":"o","repo":"r","type":"github"},"resolvedUrl":"github:o/r","revision":"0123456789abcdef0123456789abcdef01234567","url":"github:o/r/0123456789abcdef0123456789abcdef01234567"}`
)

func TestDecodeMetadata(t *testing.T) {
	m, err := decodeMetadata("path:/tmp/ha/flake", []byte(metaPath28))
	if err != nil {
		t.Fatal(err)
	}
	if m.LockedURL != "path:/tmp/ha/flake?lastModified=1795428891&narHash=sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw%3D" {
		t.Errorf("LockedURL = %s", m.LockedURL)
	}
	if m.NixLockedURL != "path:/tmp/ha/flake?lastModified=1795428891&narHash=sha256-XvuGgpP%2fUylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=" {
		t.Errorf("NixLockedURL = %s", m.NixLockedURL)
	}
	if m.OriginalURL != "path:/tmp/ha/flake" || m.ResolvedURL != "path:/tmp/ha/flake" || m.Rev != "" ||
		m.NarHash != "sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=" || m.LastModified != 1795428891 ||
		m.StorePath != "/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source" {
		t.Errorf("Metadata = %+v", m)
	}
	if m.Lock == nil || m.Lock.Nodes["busybox"] == nil {
		t.Fatalf("Lock = %+v", m.Lock)
	}

	m, err = decodeMetadata("git+file:///tmp/ha/gflake", []byte(metaGit28))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rev != "831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2" || m.LockedURL != m.NixLockedURL {
		t.Errorf("git: Rev %q LockedURL %q NixLockedURL %q", m.Rev, m.LockedURL, m.NixLockedURL)
	}

	m, err = decodeMetadata("github:o/r", []byte(metaGitHubNew))
	if err != nil {
		t.Fatal(err)
	}
	if m.LockedURL != "github:o/r/0123456789abcdef0123456789abcdef01234567" || !strings.HasPrefix(m.NixLockedURL, m.LockedURL+"?narHash=") {
		t.Errorf("github: LockedURL %q NixLockedURL %q", m.LockedURL, m.NixLockedURL)
	}
}

func TestDecodeMetadataBad(t *testing.T) {
	replace := func(s, old, new string) string {
		if !strings.Contains(s, old) {
			panic("test fixture does not contain " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"dirty (2.8)", metaDirty28, `git tree of "X" is dirty: commit your changes`},
		{"dirty (newer)", metaDirtyNew, `git tree of "X" is dirty: commit your changes`},
		{"dirtyRevision only", replace(metaGit28, `"lastModified":1795428903,"locked"`, `"dirtyRevision":"abc-dirty","lastModified":1795428903,"locked"`), "is dirty"},
		{"rev marked dirty", replace(metaGit28, `"rev":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2"`, `"rev":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2-dirty"`), "is dirty"},
		{"rev not hex", replace(metaGit28, `"rev":"831f1116d203f2d3cf3ec28f8e6075da1d7b1ba2"`, `"rev":"master"`), `revision "master"`},
		{"no narHash", replace(metaPath28, `"narHash":"sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=",`, ``), `flake "X" is not locked: nix flake metadata reported no narHash`},
		{"bad narHash", replace(metaPath28, `"narHash":"sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw=",`, `"narHash":"sha256-AAAA",`), "bad narHash"},
		{"no locked", replace(metaPath28, `"locked":{"lastModified":1795428891,`, `"lockedX":{"lastModified":1795428891,`), `flake "X" is not locked`},
		{"locked without type", replace(metaPath28, `"path":"/tmp/ha/flake","type":"path"},"locks"`, `"path":"/tmp/ha/flake"},"locks"`), "without a type"},
		{"unlocked input", replace(metaPath28, `"narHash":"sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k=",`, ``), `flake "X" is not locked: flake.lock: input "busybox" (node "busybox") is not locked: no narHash`},
		{"bad locks", replace(metaPath28, `"root":"root","version":7}`, `"root":"nope","version":7}`), `root node "nope"`},
		{"no store path", replace(metaPath28, `"path":"/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source",`, ``), "no store path"},
		{"lastModified not integer", replace(metaPath28, `{"lastModified":1795428891,"locked"`, `{"lastModified":1.5,"locked"`), "lastModified"},
		{"url not string", replace(metaPath28, `"originalUrl":"path:/tmp/ha/flake"`, `"originalUrl":7`), "cannot unmarshal"},
		{"not JSON", `error: bad`, "not JSON"},
		{"array", `[]`, "want a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeMetadata("X", []byte(tc.json))
			if err == nil {
				t.Fatalf("decodeMetadata succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeBuildResults(t *testing.T) {
	got, err := decodeBuildResults([]byte(`[{"drvPath":"/nix/store/zsfmg8is3bh6ak0ykn1gr7silx3h2xx9-hello.drv","outputs":{"out":"/nix/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"},"startTime":0,"stopTime":0}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DrvPath != "/nix/store/zsfmg8is3bh6ak0ykn1gr7silx3h2xx9-hello.drv" || got[0].Outputs["out"] != "/nix/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello" {
		t.Errorf("got %+v", got)
	}
	for _, tc := range []struct{ json, want string }{
		{``, "want an array"},
		{`{}`, "want an array, got an object"},
		{`[]`, "nothing built"},
		{`[{"outputs":{"out":"/nix/store/x"}}]`, "drvPath"},
		{`[{"drvPath":"/nix/store/x.drv"}]`, "no outputs"},
		{`[{"drvPath":"/nix/store/x.drv","outputs":{"out":null}}]`, "want an absolute store path"},
		{`[{"drvPath":"/nix/store/x.drv","outputs":{"out":"x"}}]`, "want an absolute store path"},
		{`[{"drvPath":1}]`, "cannot unmarshal"},
	} {
		if _, err := decodeBuildResults([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeBuildResults(%s): error %v, want it to contain %q", tc.json, err, tc.want)
		}
	}
}
