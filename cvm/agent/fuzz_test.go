package agent

import (
	"bytes"
	"testing"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(goodRequest))
	f.Add([]byte(`{"version":1,"flakeRef":"path:/x","platform":"sim-tdx","artifacts":"xz"}`))
	f.Add([]byte(`{"version":1,"flakeRef":"path:/x","platform":"sim-snp","deepHash":true}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded a request that does not validate: %v", err)
		}
	})
}

func FuzzReadResult(f *testing.F) {
	var good bytes.Buffer
	WriteResult(&good, Result{OK: true}, []byte("bundle"))
	f.Add(good.Bytes())
	var failed bytes.Buffer
	WriteResult(&failed, Result{Error: "no"}, nil)
	f.Add(failed.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		res, bundle, err := ReadResult(bytes.NewReader(data))
		if err != nil {
			return
		}
		if res.OK != (bundle != nil) || int64(len(bundle)) != res.BundleSize {
			t.Fatalf("result %+v with a %d-byte bundle", res, len(bundle))
		}
	})
}

func FuzzReadInput(f *testing.F) {
	r, _ := DecodeRequest([]byte(goodRequest))
	var disk bytes.Buffer
	WriteInput(&disk, r, "")
	f.Add(disk.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadInput(bytes.NewReader(data), t.TempDir())
	})
}
