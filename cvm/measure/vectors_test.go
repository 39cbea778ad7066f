package measure

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// file is a kernel or initrd argument of a vector: none (option not
// given), empty (a zero-length file, /dev/null upstream) or a fixture.
type file int

const (
	none file = iota
	empty
	synthetic
)

// cmdline is the -append argument: unset means the option is not given.
type cmdline struct {
	set bool
	s   string
}

func appendArg(s string) cmdline { return cmdline{true, s} }

// snpHashes builds what sev-snp-measure does from its kernel, initrd and
// append options: no hashes without a kernel; an absent initrd or cmdline
// hashes like an empty one.
func snpHashes(t *testing.T, kernel, initrd file, c cmdline) *SEVHashes {
	t.Helper()
	if kernel == none {
		if initrd != none || c.set {
			t.Fatal("vector gives an initrd or a cmdline without a kernel")
		}
		return nil
	}
	content := func(f file, rel, sum string) []byte {
		switch f {
		case synthetic:
			return fixture(t, rel, sum)
		}
		return nil // none and empty both hash the empty string
	}
	h := &SEVHashes{
		Kernel: sha256.Sum256(content(kernel, synthKernel, synthKernelSHA)),
		Initrd: sha256.Sum256(content(initrd, synthInitrd, synthInitrdSHA)),
	}
	var err error
	if h.Cmdline, err = CmdlineSHA256(c.s); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSNPVectors runs every SEV-SNP vector of VECTORS.md.
func TestSNPVectors(t *testing.T) {
	const s1 = "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
	epycV4, _ := VCPUSignature("EPYC-v4")
	milan, _ := VCPUSignature("EPYC-Milan")
	rome, _ := VCPUSignature("EPYC-Rome")
	tests := []struct {
		id             string
		ovmf, ovmfSHA  string
		seed           string // chain seeded with this instead of measuring the file
		vmm            VMMType
		vcpus          int
		sig            uint32
		features       uint64
		kernel, initrd file
		append         cmdline
		want           string
		wantErr        error
		wantMsg        string
	}{
		{id: "S2", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 1, sig: epycV4, features: 0x21,
			kernel: empty, initrd: empty, append: appendArg("console=ttyS0 loglevel=7"),
			want: "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
		{id: "S3", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 1, sig: epycV4, features: 0x1,
			want: "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d"},
		{id: "S4", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 4, sig: epycV4, features: 0x21,
			kernel: empty, initrd: empty, append: appendArg(""),
			want: "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"},
		{id: "S5", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMEC2, vcpus: 1, sig: epycV4, features: 0x21,
			kernel: empty, initrd: empty, append: appendArg(""),
			want: "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"},
		{id: "S6", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMGCE, vcpus: 1, features: 0x1,
			kernel: empty, initrd: empty, append: appendArg(""),
			want: "5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e"},
		{id: "S7", ovmf: ovmfX64Suffix, ovmfSHA: ovmfX64SHA256, vmm: VMMQEMU, vcpus: 1, sig: epycV4, features: 0x21,
			want: "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"},
		{id: "S8", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, seed: s1, vmm: VMMQEMU, vcpus: 1, sig: epycV4, features: 0x1,
			kernel: empty, initrd: empty, append: appendArg(""),
			want: "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"},
		{id: "S9", ovmf: ovmfX64Suffix, ovmfSHA: ovmfX64SHA256, vmm: VMMQEMU, vcpus: 1, sig: epycV4, features: 0x21,
			kernel: empty, initrd: empty, append: appendArg(""),
			wantErr: ErrNoKernelHashes, wantMsg: "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section"},
		{id: "S10", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 2, sig: milan, features: 0x1,
			kernel: synthetic, initrd: synthetic, append: appendArg("console=ttyS0 init=/init kettle.test=1"),
			want: "f936f20fbe5e7900f0757c024bc238ebfe84e2566baa2363d4a88802b870410fb9cd61fd930c5a42784bb75dc64e21d1"},
		{id: "S11", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 1, sig: rome, features: 0x1,
			kernel: synthetic,
			want:   "c1976b1a4c0cfbb1c3330a4dd916637c247e6ac6082a9fc6c30f06f4f56119079fe05ae22a35bdaae538b6dada43fbff"},
		{id: "S12", ovmf: amdSevSuffix, ovmfSHA: amdSevSHA256, vmm: VMMQEMU, vcpus: 3, sig: milan, features: DefaultGuestFeatures,
			kernel: synthetic, initrd: synthetic, append: appendArg("console=ttyS0 init=/init kettle.test=1"),
			want: "107562990ec8097578b5eb3d16b980ccd8041ed9a0d7edc38f06b3301c267bd93caf0faeb68286c5e18ebcd55deefd71"},
		{id: "S14", ovmf: debianOVMF, ovmfSHA: debianOVMFSHA, vmm: VMMQEMU, vcpus: 4, sig: epycV4, features: 0x1,
			want: "32ac9d7a17d28f7cd4404a4516d2f00519668c40ada2062351c36767e908eb3f090d66c33ab10f80150e00a4385b6d0f"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			fw := fixture(t, tc.ovmf, tc.ovmfSHA)
			opts := SNPOptions{VCPUs: tc.vcpus, VCPUSig: tc.sig, VMM: tc.vmm, GuestFeatures: tc.features,
				Kernel: snpHashes(t, tc.kernel, tc.initrd, tc.append)}
			var got [48]byte
			var err error
			if tc.seed != "" {
				l, perr := ParseSNPLayout(fw)
				if perr != nil {
					t.Fatal(perr)
				}
				got, err = SNPLaunchDigest(unhex48(t, tc.seed), l, opts)
			} else {
				got, err = MeasureSNP(fw, opts)
			}
			checkResult(t, got[:], err, tc.want, tc.wantErr, tc.wantMsg)
		})
	}
}

func checkResult(t *testing.T, got []byte, err error, want string, wantErr error, wantMsg string) {
	t.Helper()
	if wantErr != nil || wantMsg != "" {
		if err == nil {
			t.Fatalf("got digest %x, want error %q", got, wantMsg)
		}
		if wantErr != nil && !errors.Is(err, wantErr) {
			t.Errorf("error %q is not %q", err, wantErr)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("error %q does not say %q", err, wantMsg)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("digest %x\nwant   %s", got, want)
	}
}

// TestOVMFHashVectors: S1 and S13, the "snp:ovmf-hash" mode.
func TestOVMFHashVectors(t *testing.T) {
	for _, tc := range []struct{ id, ovmf, sum, want string }{
		{"S1", amdSevSuffix, amdSevSHA256, "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"},
		{"S13", debianOVMF, debianOVMFSHA, "ba2c811512ef868474f239a21f7d7057d65a20de87a003c4f116e4fb1573183bfbcd75c3e99b2f558575a5d0094f73c6"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			got, err := OVMFHash(fixture(t, tc.ovmf, tc.sum))
			checkResult(t, got[:], err, tc.want, nil, "")
		})
	}
}

// TestMetadataOnlyVector is the sev-snp-measure-go vector: no firmware, only
// its OVMF hash and layout, on EC2 with 2 vCPUs. The current EC2 VMSA
// (RDX 0x600) gives the v0.0.13 value; with RDX 0, as sev-snp-measure up to
// v0.0.12 and the Go port set it, the chain gives the Go port's own value.
func TestMetadataOnlyVector(t *testing.T) {
	seed := unhex48(t, "a58211791a556a630a4319dc9e2ea96cc0e9784dd9f20a4fadf81b26c98d163fcdcb6703884bbbb80d7b1de45b3d84d0")
	l := SNPLayout{ResetEIP: 0x80b004, Sections: []SEVSection{
		{0x800000, 0x9000, SEVSectionSNPSecMem}, {0x80a000, 0x3000, SEVSectionSNPSecMem},
		{0x80d000, 0x1000, SEVSectionSNPSecrets}, {0x80e000, 0x1000, SEVSectionCPUID},
		{0x80f000, 0x11000, SEVSectionSNPSecMem},
	}}
	got, err := SNPLaunchDigest(seed, l, SNPOptions{VCPUs: 2, VMM: VMMEC2, GuestFeatures: 0x1})
	checkResult(t, got[:], err, "1c146f3083d66ad1648f842a62a65ad99b9fa4c8fe5b151b677f4923c1686004ce9ce3d1d9eda527f72bba78e6ceef67", nil, "")

	// The old EC2 VMSA, replayed by hand: same pages, RDX 0.
	d := NewLaunchDigest(seed)
	for _, s := range l.Sections {
		switch s.Type {
		case SEVSectionSNPSecMem:
			d.UpdateEmpty(PageZero, uint64(s.GPA), uint64(s.Size))
		case SEVSectionSNPSecrets:
			d.UpdateEmpty(PageSecrets, uint64(s.GPA), pageSize)
		}
	}
	d.UpdateEmpty(PageCPUID, 0x80e000, pageSize)
	for _, eip := range []uint32{bspEIP, l.ResetEIP} {
		v := VMSA(eip, VMMEC2, 0, 0x1)
		for i := range 8 {
			v[vmsaRDX+i] = 0
		}
		d.UpdateVMSA(v)
	}
	old := d.Sum()
	checkResult(t, old[:], nil, "4c6e33087d08fa770259484dddbef367086a15c3e2cf10038dc97229d39c942671c2e22b300178f8de594a3f2fa59303", nil, "")
}

// TestLegacySEVVectors runs L1–L4 (SHA-256 digests).
func TestLegacySEVVectors(t *testing.T) {
	epycV4, _ := VCPUSignature("EPYC-v4")
	for _, tc := range []struct {
		id             string
		es             bool
		ovmf, sum      string
		vcpus          int
		kernel, initrd file
		append         cmdline
		want, wantMsg  string
	}{
		{id: "L1", es: true, ovmf: amdSevSuffix, sum: amdSevSHA256, vcpus: 1, kernel: empty, initrd: empty, append: appendArg(""),
			want: "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c"},
		{id: "L2", ovmf: amdSevSuffix, sum: amdSevSHA256, kernel: empty, initrd: empty, append: appendArg("console=ttyS0 loglevel=7"),
			want: "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"},
		{id: "L3", ovmf: ovmfX64Suffix, sum: ovmfX64SHA256,
			want: "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"},
		{id: "L4/SEV-ES", es: true, ovmf: ovmfX64Suffix, sum: ovmfX64SHA256, vcpus: 1, kernel: empty, initrd: empty, append: appendArg(""),
			wantMsg: "Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement"},
		{id: "L4/SEV", ovmf: ovmfX64Suffix, sum: ovmfX64SHA256, kernel: empty, initrd: empty, append: appendArg(""),
			wantMsg: "Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			fw := fixture(t, tc.ovmf, tc.sum)
			k := snpHashes(t, tc.kernel, tc.initrd, tc.append)
			var got [32]byte
			var err error
			if tc.es {
				got, err = SEVESLaunchDigest(fw, SNPOptions{VCPUs: tc.vcpus, VCPUSig: epycV4, Kernel: k})
			} else {
				got, err = SEVLaunchDigest(fw, k)
			}
			var wantErr error
			if tc.wantMsg != "" {
				wantErr = ErrNoKernelHashes
			}
			checkResult(t, got[:], err, tc.want, wantErr, tc.wantMsg)
		})
	}
}
