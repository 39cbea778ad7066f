package nixcache

import (
	"bytes"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
)

// FuzzHashSingleFile feeds NARs that may be malformed to the reader Verify
// uses for flat and text content addresses.
func FuzzHashSingleFile(f *testing.F) {
	dir := f.TempDir()
	for _, contents := range []string{"", "hi\n", "Hello from an attested Kettle build\n"} {
		p := dir + "/f"
		if err := writeFile(p, contents); err != nil {
			f.Fatal(err)
		}
		var nar bytes.Buffer
		if err := nixinputs.WriteNAR(&nar, p); err != nil {
			f.Fatal(err)
		}
		f.Add(nar.Bytes())
	}
	f.Fuzz(func(t *testing.T, nar []byte) {
		hashSingleFile(bytes.NewReader(nar), sha256.New())
	})
}

func writeFile(p, contents string) error { return os.WriteFile(p, []byte(contents), 0o644) }
