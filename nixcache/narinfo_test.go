package nixcache

import (
	"reflect"
	"strings"
	"testing"
)

const (
	testStorePath = "/nix/store/v71nn92j9c3gfb53bfhr3znzs15g1cgp-hello"
	testNarInfo   = "StorePath: " + testStorePath + "\n" +
		"URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz\n" +
		"Compression: xz\n" +
		"FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\n" +
		"FileSize: 4276\n" +
		"NarHash: sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611\n" +
		"NarSize: 10496\n" +
		"References: p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir\n" +
		"Deriver: ngjkx62zw2wq6549ca50xyv8dmhxaj8g-hello.drv\n"
	testBundleField = "kettle/bundles/ca7057626a6081f6a5bcdf72028ab3fec2c14ffb76e642a20f576d43fa61a864.tar"
)

func TestNarInfoRoundTrip(t *testing.T) {
	n, err := ParseNarInfo([]byte(testNarInfo))
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.MarshalText()
	if err != nil || string(got) != testNarInfo {
		t.Fatalf("MarshalText = %q, %v; want %q", got, err, testNarInfo)
	}
	wantFP := "1;" + testStorePath + ";sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611;10496;" +
		"/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source,/nix/store/x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir"
	if fp := n.Fingerprint(); fp != wantFP {
		t.Errorf("Fingerprint = %q, want %q", fp, wantFP)
	}
	k := testKey(t, "test-1")
	n.Sign(k)
	n.CA = caPaths[0].ca
	n.Bundle = testBundleField
	text, err := n.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	n2, err := ParseNarInfo(text)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n, n2) {
		t.Errorf("round trip:\n%+v\n%+v", n, n2)
	}
	if !k.PublicKey().Verify(n2.Fingerprint(), n2.Sigs[0]) {
		t.Error("signature does not verify after the round trip")
	}
	if !strings.HasSuffix(string(text), "\n"+BundleField+": "+testBundleField+"\n") {
		t.Errorf("the bundle field is not the last line:\n%s", text)
	}
	// Other spellings Nix writes or accepts.
	alt := strings.Replace(testNarInfo, "Deriver: ngjkx62zw2wq6549ca50xyv8dmhxaj8g-hello.drv", "Deriver: unknown-deriver", 1)
	if n, err := ParseNarInfo([]byte(alt)); err != nil || n.Deriver != "" {
		t.Errorf("unknown-deriver: %+v, %v", n, err)
	}
	noRefs := strings.Replace(testNarInfo, "References: p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir", "References: ", 1)
	if n, err := ParseNarInfo([]byte(noRefs)); err != nil || len(n.References) != 0 {
		t.Errorf("no references: %+v, %v", n, err)
	}
}

func TestParseNarInfoBad(t *testing.T) {
	rep := func(old, new string) string {
		if !strings.Contains(testNarInfo, old) {
			t.Fatalf("%q is not in the test narinfo", old)
		}
		return strings.Replace(testNarInfo, old, new, 1)
	}
	const nh = "NarHash: sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611\n"
	const sig = "Sig: k:" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"no final newline", strings.TrimSuffix(testNarInfo, "\n"), "newline"},
		{"too large", testNarInfo + strings.Repeat("x", MaxNarInfoSize), "more than"},
		{"blank line", testNarInfo + "\n", "line 10"},
		{"CRLF", strings.ReplaceAll(testNarInfo, "\n", "\r\n"), "printable"},
		{"no colon", rep("NarSize: 10496", "NarSize 10496"), "want <Field>: <value>"},
		{"no space", rep("NarSize: 10496", "NarSize:10496"), "want <Field>: <value>"},
		{"unknown field", testNarInfo + "System: x86_64-linux\n", "unknown field"},
		{"duplicate", testNarInfo + nh, "twice"},
		{"missing NarHash", rep(nh, ""), "missing NarHash"},
		{"missing References", rep("References: p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir\n", ""), "missing References"},
		{"bad store path", rep(testStorePath, "/nix/store/hello"), "StorePath"},
		{"relative store path", rep("StorePath: /nix/store/", "StorePath: nix/store/"), "StorePath"},
		{"absolute URL", rep("URL: nar/", "URL: /nar/"), "URL"},
		{"URL escapes", rep("URL: nar/", "URL: ../nar/"), "URL"},
		{"URL with scheme", rep("URL: nar/", "URL: https://x/"), "URL"},
		{"unknown compression", rep("Compression: xz", "Compression: bzip2"), "Compression"},
		{"empty compression", rep("Compression: xz", "Compression: "), "Compression"},
		{"bare hash", rep("NarHash: sha256:", "NarHash: "), "prefix"},
		{"sha512", rep("NarHash: sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611", "NarHash: sha512:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611"), "prefix"},
		{"short hash", rep("sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611", "sha256:0sggvzh4dj"), "NarHash"},
		{"zero size", rep("NarSize: 10496", "NarSize: 0"), "NarSize"},
		{"leading zero", rep("NarSize: 10496", "NarSize: 010496"), "NarSize"},
		{"signed size", rep("NarSize: 10496", "NarSize: +10496"), "NarSize"},
		{"huge size", rep("NarSize: 10496", "NarSize: 18446744073709551616"), "NarSize"},
		{"file size", rep("FileSize: 4276", "FileSize: -1"), "FileSize"},
		{"reference path", rep("References: p8mw", "References: /nix/store/p8mw"), "References"},
		{"bad reference", rep("References: p8mw", "References: x p8mw"), "References"},
		{"double space", rep("-source x9g0", "-source  x9g0"), "References"},
		{"unsorted", rep("p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir", "x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source"), "sorted"},
		{"duplicate reference", rep("x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir\n", "x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir x9g0znh33n5dj4sp4ibylraqqgzy4jhp-busybox-dir\n"), "twice"},
		{"deriver not a drv", rep("hello.drv", "hello"), "Deriver"},
		{"bad signature", testNarInfo + "Sig: k:AAAA\n", "Sig"},
		{"too many signatures", testNarInfo + strings.Repeat(sig, MaxSigs+1), "Sig"},
		{"bad CA", testNarInfo + "CA: fixed:r:sha256:xyz\n", "CA"},
		{"empty CA", testNarInfo + "CA: \n", "CA"},
		{"CA in hex", testNarInfo + "CA: fixed:r:sha256:" + strings.Repeat("00", 32) + "\n", "Nix's form"},
		{"duplicate CA", testNarInfo + "CA: " + caPaths[0].ca + "\nCA: " + caPaths[0].ca + "\n", "twice"},
		{"NUL", rep("Compression: xz", "Compression: x\x00z"), "printable"},
		{"empty bundle", testNarInfo + BundleField + ": \n", BundleField},
		{"duplicate bundle", testNarInfo + BundleField + ": " + testBundleField + "\n" + BundleField + ": " + testBundleField + "\n", "twice"},
		{"bundle not under kettle/bundles", testNarInfo + BundleField + ": bundles/" + strings.Repeat("ab", 32) + ".tar\n", BundleField},
		{"bundle escapes", testNarInfo + BundleField + ": kettle/bundles/../../" + strings.Repeat("ab", 32) + ".tar\n", BundleField},
		{"bundle upper-case hex", testNarInfo + BundleField + ": kettle/bundles/" + strings.Repeat("AB", 32) + ".tar\n", BundleField},
		{"bundle short digest", testNarInfo + BundleField + ": kettle/bundles/" + strings.Repeat("ab", 31) + ".tar\n", BundleField},
		{"bundle not hex", testNarInfo + BundleField + ": kettle/bundles/" + strings.Repeat("xy", 32) + ".tar\n", BundleField},
		{"bundle directory", testNarInfo + BundleField + ": kettle/bundles/" + strings.Repeat("ab", 32) + "\n", BundleField},
		{"bundle absolute", testNarInfo + BundleField + ": /kettle/bundles/" + strings.Repeat("ab", 32) + ".tar\n", BundleField},
		{"bundle field case", testNarInfo + "kettle-bundle: " + testBundleField + "\n", "unknown field"},
		{"UTF-8", rep("-hello\n", "-hellö\n"), "printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNarInfo([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseNarInfo succeeded: %+v", n)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func FuzzParseNarInfo(f *testing.F) {
	f.Add([]byte(testNarInfo))
	k := testKey(f, "fuzz-1")
	n, _ := ParseNarInfo([]byte(testNarInfo))
	n.Sign(k)
	n.CA = caPaths[0].ca
	signed, _ := n.MarshalText()
	f.Add(signed)
	n.Bundle = testBundleField
	withBundle, _ := n.MarshalText()
	f.Add(withBundle)
	f.Add([]byte("StorePath: /nix/store/x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNarInfo(data)
		if err != nil {
			return
		}
		text, err := n.MarshalText()
		if err != nil {
			t.Fatalf("parsed narinfo does not marshal: %v", err)
		}
		n2, err := ParseNarInfo(text)
		if err != nil || !reflect.DeepEqual(n, n2) {
			t.Fatalf("marshalled narinfo parses differently: %v\n%+v\n%+v", err, n, n2)
		}
		n.Fingerprint()
	})
}
