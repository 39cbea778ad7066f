package initrd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkWrite writes GOROOT/src (about 130 MB in 12,000 files) with each
// compression; the throughput is of the uncompressed archive.
//
//	go test -run '^$' -bench Write -benchtime 1x ./cvm/initrd/
func BenchmarkWrite(b *testing.B) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("go env GOROOT: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	if _, err := os.Stat(src); err != nil {
		b.Skipf("no GOROOT/src: %v", err)
	}
	var tr Tree
	if err := tr.AddTree("/go/src", src); err != nil {
		b.Fatal(err)
	}
	var plain countingWriter
	if err := tr.Write(&plain, Options{Compression: None}); err != nil {
		b.Fatal(err)
	}
	for _, c := range Compressions() {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(plain.n)
			var out countingWriter
			for i := 0; i < b.N; i++ {
				out = countingWriter{}
				if err := tr.Write(&out, Options{Compression: c}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.n), "out-bytes")
			b.ReportMetric(float64(plain.n)/float64(out.n), "ratio")
		})
	}
}
