package main

import (
	"archive/tar"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestIsTarHeader(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "manifest.json", Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	header := buf.Bytes()[:512]
	with := func(f func(b []byte)) []byte {
		b := append([]byte(nil), header...)
		f(b)
		return b
	}
	json := []byte(`{"version":1,` + strings.Repeat(" ", 498) + `}`)
	for _, tc := range []struct {
		name  string
		block []byte
		want  bool
	}{
		{"header", header, true},
		{"zero block (an empty archive)", make([]byte, 512), true},
		{"checksum with a space, no NUL", with(func(b []byte) { b[155] = ' ' }), true},
		{"signed sum", with(func(b []byte) {
			b[100] = 0xff // a mode byte: the unsigned sum grows by 0xff-'0', the signed one falls by 1+'0'
			sum := int64(0)
			for i, c := range b {
				if i >= 148 && i < 156 {
					c = ' '
				}
				sum += int64(int8(c))
			}
			o := strconv.FormatInt(sum, 8)
			copy(b[148:156], strings.Repeat("0", 6-len(o))+o+"\x00 ")
		}), true},
		{"one byte changed", with(func(b []byte) { b[0] ^= 1 }), false},
		{"checksum changed", with(func(b []byte) { b[150] ^= 1 }), false},
		{"checksum field empty", with(func(b []byte) { copy(b[148:156], "        ") }), false},
		{"checksum not octal", with(func(b []byte) { copy(b[148:156], "0000009\x00") }), false},
		{"JSON", json, false},
		{"short", header[:511], false},
	} {
		if got := isTarHeader(tc.block); got != tc.want {
			t.Errorf("%s: isTarHeader = %v, want %v", tc.name, got, tc.want)
		}
	}
}
