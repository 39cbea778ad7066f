package strictjson

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

func BenchmarkScratchJSON(b *testing.B) {
	data, err := os.ReadFile("/tmp/v2bench/b/provenance.json")
	if err != nil {
		b.Skip()
	}
	b.SetBytes(int64(len(data)))
	b.Run("Check", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			Check(data)
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for range b.N {
			Parse(data)
		}
	})
	b.Run("IsValid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			jsontext.Value(data).IsValid()
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			json.Valid(data)
		}
	})
}
