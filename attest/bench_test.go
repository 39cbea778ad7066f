package attest

import (
	"context"
	"testing"
)

func BenchmarkDecodeEvidence(b *testing.B) {
	ev := newSimEvidence(b, AttesterOptions{}, [64]byte{})
	data, err := ev.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEvidence(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAttestSimSNP(b *testing.B) {
	a, err := NewAttester(PlatformSimSNP, AttesterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Attest(context.Background(), [64]byte{byte(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySimSNP(b *testing.B) {
	ev := newSimEvidence(b, AttesterOptions{}, [64]byte{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Verify(context.Background(), ev, simOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
