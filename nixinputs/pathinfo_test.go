package nixinputs

import (
	"reflect"
	"strings"
	"testing"
)

const (
	piOut  = "/nix/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"
	piDrv  = "/nix/store/zsfmg8is3bh6ak0ykn1gr7silx3h2xx9-hello.drv"
	piDep  = "/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source"
	piGone = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"
	piSRI  = "sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg="
	piN32  = "sha256:1n7i1x5ig60i2za01l0r2rhc6cyrirzyrpdk8xxlsngkdhdqmc1r"
	piHex  = "39b08a1b6cf3594d7b47b3ddec7f8ed933c3601619d000d4171198174b0ff1d8"
)

func TestDecodePathInfo(t *testing.T) {
	h, err := ParseHash(piHex)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]PathInfo{
		piOut: {Path: piOut, NarHash: h, NarSize: 456, Deriver: piDrv, References: []string{piDep, piOut}},
	}
	for _, tc := range []struct{ name, json string }{
		// Nix 2.8 (captured from this machine), references reordered.
		{"array SRI (2.8)", `[{"path":"` + piOut + `","narHash":"` + piSRI + `","narSize":456,"references":["` + piOut + `","` + piDep + `"],"deriver":"` + piDrv + `","registrationTime":1795428565,"ultimate":true},{"path":"` + piGone + `","valid":false}]`},
		// Older Nix printed nix32 narHashes.
		{"array nix32", `[{"path":"` + piOut + `","narHash":"` + piN32 + `","narSize":456,"references":["` + piDep + `","` + piOut + `"],"deriver":"` + piDrv + `"},{"path":"` + piGone + `","valid":false}]`},
		// Nix 2.19 and later: keyed by path, invalid → null.
		{"object (2.19+)", `{"` + piOut + `":{"ca":null,"deriver":"` + piDrv + `","narHash":"` + piSRI + `","narSize":456,"references":["` + piDep + `","` + piOut + `"],"registrationTime":1,"signatures":[],"ultimate":true},"` + piGone + `":null}`},
		// Versioned output: base names, storeDir, structured hash.
		{"wrapped v2", `{"version":2,"storeDir":"/nix/store","info":{"z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello":{"version":2,"storeDir":"/nix/store","ca":null,"deriver":"zsfmg8is3bh6ak0ykn1gr7silx3h2xx9-hello.drv","narHash":{"algorithm":"sha256","format":"base16","hash":"` + piHex + `"},"narSize":456,"references":["avkifl6j71ky6dcdn197j0jwbfp7rjah-source","z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"]},"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x":null}}`},
		{"wrapped v1", `{"version":1,"storeDir":"/nix/store","info":{"` + piOut + `":{"deriver":"` + piDrv + `","narHash":"` + piN32 + `","narSize":456,"references":["` + piDep + `","` + piOut + `"]},"` + piGone + `":null}}`},
		{"object base64 hash", `{"` + piOut + `":{"deriver":"` + piDrv + `","narHash":{"algorithm":"sha256","hash":"ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg="},"narSize":456,"references":["` + piDep + `","` + piOut + `"]},"` + piGone + `":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, invalid, err := decodePathInfo([]byte(tc.json), "/nix/store")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("infos = %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(invalid, []string{piGone}) {
				t.Errorf("invalid = %v", invalid)
			}
		})
	}

	// Base names without a storeDir in the output fall back to the caller's.
	got, _, err := decodePathInfo([]byte(`{"info":{"z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello":{"narHash":"`+piSRI+`","narSize":1,"references":[]}}}`), "/other/store")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["/other/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"]; !ok {
		t.Errorf("base name not completed with the caller's store dir: %v", got)
	}
	// No deriver, no references.
	got, _, err = decodePathInfo([]byte(`[{"path":"`+piOut+`","narHash":"`+piSRI+`","narSize":0}]`), "")
	if err != nil || got[piOut].Deriver != "" || got[piOut].References == nil || len(got[piOut].References) != 0 {
		t.Errorf("minimal entry: %+v, %v", got, err)
	}
}

func TestDecodePathInfoBad(t *testing.T) {
	entry := func(fields string) string { return `{"` + piOut + `":{` + fields + `}}` }
	for _, tc := range []struct{ name, json, want string }{
		{"empty", ``, "path-info output: empty"},
		{"garbage", `nix path-info`, "path-info output: not JSON"},
		{"string", `"x"`, "got a string"},
		{"null", `null`, "got null"},
		{"trailing", `[] []`, "path-info output: trailing data"},
		{"duplicate key", `{"` + piOut + `":null,"` + piOut + `":null}`, "duplicate key"},
		{"array of strings", `["` + piOut + `"]`, "decoding path-info array"},
		{"array without path", `[{"narHash":"` + piSRI + `","narSize":1}]`, "empty store path"},
		{"relative path", `[{"path":"foo/bar","narHash":"` + piSRI + `","narSize":1}]`, "not absolute"},
		{"no narHash", entry(`"narSize":1`), "missing narHash"},
		{"narHash number", entry(`"narHash":1,"narSize":1`), "want a string or an object"},
		{"narHash md5", entry(`"narHash":"md5:00000000000000000000000000000000","narSize":1`), `algorithm "md5"`},
		{"narHash object md5", entry(`"narHash":{"algorithm":"md5","hash":"x"},"narSize":1`), `algorithm "md5"`},
		{"narHash garbage", entry(`"narHash":"sha256-xyz","narSize":1`), "narHash"},
		{"no narSize", entry(`"narHash":"` + piSRI + `"`), "missing narSize"},
		{"negative narSize", entry(`"narHash":"` + piSRI + `","narSize":-1`), "narSize"},
		{"fractional narSize", entry(`"narHash":"` + piSRI + `","narSize":1.5`), "narSize"},
		{"huge narSize", entry(`"narHash":"` + piSRI + `","narSize":18446744073709551616`), "narSize"},
		{"narSize string", entry(`"narHash":"` + piSRI + `","narSize":"1"`), "narSize"},
		{"references not array", entry(`"narHash":"` + piSRI + `","narSize":1,"references":"x"`), "path-info entry"},
		{"bad reference", entry(`"narHash":"` + piSRI + `","narSize":1,"references":["a/b"]`), "reference"},
		{"bad deriver", entry(`"narHash":"` + piSRI + `","narSize":1,"deriver":"a/b.drv"`), "deriver"},
		{"entry not object", `{"` + piOut + `":[]}`, "path-info entry"},
		{"wrapped info not object", `{"version":2,"info":[]}`, `"info": want an object`},
		{"wrapped storeDir not string", `{"version":2,"storeDir":1,"info":{}}`, `"storeDir": want a string`},
		{"duplicate", `[{"path":"` + piOut + `","narHash":"` + piSRI + `","narSize":1},{"path":"` + piOut + `","narHash":"` + piSRI + `","narSize":1}]`, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodePathInfo([]byte(tc.json), "/nix/store")
			if err == nil {
				t.Fatalf("decodePathInfo succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
