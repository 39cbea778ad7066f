package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// TestRoundTrip: attest, marshal, decode, verify; the claims carry what was
// attested.
func TestRoundTrip(t *testing.T) {
	var digest, nonce, hostData [32]byte
	copy(digest[:], "provenance digest")
	copy(nonce[:], "nonce")
	copy(hostData[:], "host data")
	measurement := bytes.Repeat([]byte{0x5a}, 48)
	rd := ReportData(digest, nonce)
	ev := newSimEvidence(t, AttesterOptions{Measurement: measurement, HostData: hostData}, rd)

	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := DecodeEvidence(data)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(context.Background(), decoded, simOptions())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	chipID := sim.ChipID()
	want := &Claims{
		Platform:    PlatformSimSNP,
		Simulated:   true,
		Measurement: measurement,
		ReportData:  rd,
		HostData:    hostData[:],
		Debug:       false,
		VMPL:        0,
		TCB:         "bl=4 tee=0 snp=22 ucode=213 (0xd516000000000004)",
		ChipID:      chipID[:],
		Product:     "Kettle simulated Milan-B1",
		Device:      DeviceSimulated,
		NotChecked:  []string{"revocation of the ASK/VCEK (no AMD CRL: --collateral DIR with crl.der)"},
	}
	got, _ := json.Marshal(claims)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Errorf("claims\n%s\nwant\n%s", got, exp)
	}
	// Zero Now means the current time, inside the test root's validity.
	if _, err := Verify(context.Background(), decoded, VerifyOptions{AllowSimulated: true}); err != nil {
		t.Errorf("Verify at the current time: %v", err)
	}
}

func TestClaimsJSON(t *testing.T) {
	c := Claims{Platform: PlatformSimSNP, Simulated: true, Measurement: []byte{0xab}, HostData: []byte{1}, ChipID: []byte{2}, VMPL: 1, TCB: "t", Product: "p"}
	c.ReportData[0] = 0xff
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"platform":"sim-snp","simulated":true,"product":"p","measurement":"ab","reportData":"ff` + strings.Repeat("00", 63) +
		`","hostData":"01","debug":false,"vmpl":1,"tcb":"t","chipId":"02"}`
	if string(got) != want {
		t.Errorf("claims JSON %s, want %s", got, want)
	}
}

func TestSimulatedNeedsAllowSimulated(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{})
	claims, err := Verify(context.Background(), ev, VerifyOptions{Now: testNow})
	if claims != nil {
		t.Error("claims returned for untrusted simulated evidence")
	}
	wantStepError(t, err, StepChain, "sim-snp", "TEST-ONLY", "--allow-simulated")
	if !errors.Is(err, ErrSimulatedNotTrusted) {
		t.Errorf("error %v does not wrap ErrSimulatedNotTrusted", err)
	}
}

// TestSimulatedRelabelled: simulated evidence that calls itself sev-snp is
// checked against AMD's roots, and fails, with or without AllowSimulated.
func TestSimulatedRelabelled(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{})
	ev.Platform = PlatformSEVSNP
	for _, allow := range []bool{false, true} {
		_, err := Verify(context.Background(), ev, VerifyOptions{AllowSimulated: allow, Now: testNow})
		wantStepError(t, err, StepChain, "certificates.ark: not the AMD ARK for Milan", SimSNPRootSHA256)
	}
}

func TestVerifyNoEvidence(t *testing.T) {
	_, err := Verify(context.Background(), nil, simOptions())
	wantStepError(t, err, StepChain, "no evidence")

	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{})
	ev.Report = ev.Report[:100]
	_, err = Verify(context.Background(), ev, simOptions())
	wantStepError(t, err, StepChain, "hardware signature chain: report: 100 bytes, want 1184")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, newSimEvidence(t, AttesterOptions{}, [64]byte{}), simOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context: %v", err)
	}
}

// snpReportFields are the fields of the SEV-SNP ATTESTATION_REPORT (SEV-SNP
// ABI specification, table "ATTESTATION_REPORT Structure"), by offset.
var snpReportFields = []struct {
	name   string
	offset int
}{
	{"VERSION", 0x00}, {"GUEST_SVN", 0x04}, {"POLICY", 0x08}, {"POLICY byte 2", 0x0a}, {"FAMILY_ID", 0x10},
	{"IMAGE_ID", 0x20}, {"VMPL", 0x30}, {"SIGNATURE_ALGO", 0x34}, {"CURRENT_TCB", 0x38},
	{"PLATFORM_INFO", 0x40}, {"SIGNER_INFO", 0x48}, {"reserved 0x4c", 0x4c}, {"REPORT_DATA", 0x50},
	{"REPORT_DATA nonce", 0x70}, {"MEASUREMENT", 0x90}, {"MEASUREMENT last", 0xbf}, {"HOST_DATA", 0xc0},
	{"ID_KEY_DIGEST", 0xe0}, {"AUTHOR_KEY_DIGEST", 0x110}, {"REPORT_ID", 0x140}, {"REPORT_ID_MA", 0x160},
	{"REPORTED_TCB", 0x180}, {"CPUID_FAM_ID", 0x188}, {"CPUID_MOD_ID", 0x189}, {"CPUID_STEP", 0x18a},
	{"reserved 0x18b", 0x18b}, {"CHIP_ID", 0x1a0}, {"COMMITTED_TCB", 0x1e0}, {"CURRENT_BUILD", 0x1e8},
	{"CURRENT_MINOR", 0x1e9}, {"CURRENT_MAJOR", 0x1ea}, {"COMMITTED_BUILD", 0x1ec}, {"LAUNCH_TCB", 0x1f0},
	{"LAUNCH_MIT_VECTOR", 0x1f8}, {"CURRENT_MIT_VECTOR", 0x200}, {"reserved 0x208", 0x208},
	{"SIGNATURE.R", 0x2a0}, {"SIGNATURE.R high", 0x2d0}, {"SIGNATURE.R padding", 0x2e0}, {"SIGNATURE.S", 0x2e8},
	{"SIGNATURE.S padding", 0x328}, {"reserved after signature", 0x400}, {"last byte", 0x49f},
}

// TestTamperReport flips one bit in every field of a simulated report: none
// of the results verifies, each fails at the chain step, and the fields the
// verifier is relied on for name the signature.
func TestTamperReport(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	if _, err := Verify(context.Background(), ev, simOptions()); err != nil {
		t.Fatal(err)
	}
	for _, f := range snpReportFields {
		for _, bit := range []byte{0x01, 0x80} {
			t.Run(fmt.Sprintf("%s^%#x", f.name, bit), func(t *testing.T) {
				bad := cloneEvidence(ev)
				bad.Report[f.offset] ^= bit
				claims, err := Verify(context.Background(), bad, simOptions())
				if err == nil {
					t.Fatalf("tampered report verified: %+v", claims)
				}
				se := wantStepError(t, err, StepChain, "report")
				switch f.name {
				case "REPORT_DATA", "REPORT_DATA nonce", "MEASUREMENT", "MEASUREMENT last", "HOST_DATA", "SIGNATURE.R", "SIGNATURE.S":
					if !strings.Contains(se.Error(), "report: signature (SIGNATURE) does not verify") {
						t.Errorf("error %q does not name the signature", se)
					}
				}
				if claims != nil {
					t.Error("claims returned at the chain step")
				}
			})
		}
	}
}

// TestTamperCertificates changes each certificate of the chain, in its
// signature and in its signed part: each fails at the chain step naming it.
func TestTamperCertificates(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	for _, name := range []string{CertARK, CertASK, CertVCEK} {
		der := ev.Certificates[name]
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		// Offsets of a byte in the signature, in the public key and in the
		// validity, all inside the signed part but the first.
		spki := bytes.Index(der, cert.RawSubjectPublicKeyInfo) + len(cert.RawSubjectPublicKeyInfo) - 8
		for _, at := range []struct {
			what   string
			offset int
		}{{"signature", len(der) - 1}, {"public key", spki}, {"serial", bytes.Index(der, cert.RawTBSCertificate) + 8}} {
			t.Run(name+" "+at.what, func(t *testing.T) {
				bad := cloneEvidence(ev)
				bad.Certificates[name][at.offset] ^= 0x01
				_, err := Verify(context.Background(), bad, simOptions())
				if err == nil {
					t.Fatal("tampered certificate verified")
				}
				wantStepError(t, err, StepChain, "certificates."+name)
			})
		}
	}
	// Certificates in each other's place.
	swapped := cloneEvidence(ev)
	swapped.Certificates[CertASK], swapped.Certificates[CertARK] = swapped.Certificates[CertARK], swapped.Certificates[CertASK]
	_, err := Verify(context.Background(), swapped, simOptions())
	wantStepError(t, err, StepChain, "certificates.ark")
}

// testChain mints a chain with the names and extensions of the TEST-ONLY one
// but other keys, standing in for an attacker's.
type testChain struct {
	arkKey, askKey *rsa.PrivateKey
	vcekKey        *ecdsa.PrivateKey
	ark, ask, vcek *x509.Certificate
}

func mintCert(t testing.TB, template, parent *x509.Certificate, pub any, priv any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cloneTemplate returns a template with genuine's names, validity and
// extensions.
func cloneTemplate(genuine *x509.Certificate) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          genuine.SerialNumber,
		Subject:               genuine.Subject,
		NotBefore:             genuine.NotBefore,
		NotAfter:              genuine.NotAfter,
		SignatureAlgorithm:    x509.SHA384WithRSAPSS,
		KeyUsage:              genuine.KeyUsage,
		IsCA:                  genuine.IsCA,
		BasicConstraintsValid: genuine.BasicConstraintsValid,
		ExtraExtensions:       genuineKDSExtensions(genuine),
	}
}

func genuineKDSExtensions(c *x509.Certificate) (exts []pkix.Extension) {
	for _, e := range c.Extensions {
		if len(e.Id) > 7 && e.Id[6] == 3704 { // 1.3.6.1.4.1.3704: AMD
			exts = append(exts, e)
		}
	}
	return exts
}

func newTestChain(t testing.TB, ev *Evidence) *testChain {
	t.Helper()
	parse := func(name string) *x509.Certificate {
		c, err := x509.ParseCertificate(ev.Certificates[name])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var err error
	c := &testChain{}
	if c.arkKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if c.askKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if c.vcekKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := cloneTemplate(parse(CertARK))
	c.ark = mintCert(t, tmpl, tmpl, c.arkKey.Public(), c.arkKey)
	c.ask = mintCert(t, cloneTemplate(parse(CertASK)), c.ark, c.askKey.Public(), c.arkKey)
	c.vcek = mintCert(t, cloneTemplate(parse(CertVCEK)), c.ask, c.vcekKey.Public(), c.askKey)
	return c
}

// signReport re-signs report with key, as a forger holding key would.
func signReport(t testing.TB, report []byte, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	out := append([]byte(nil), report...)
	h := sha512.Sum384(abi.SignedComponent(out))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	clear(out[len(abi.SignedComponent(out)):])
	if err := abi.SetSignature(r, s, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForgedChains: chains that look like the TEST-ONLY one but are rooted
// elsewhere are refused, naming the first certificate that does not chain.
func TestForgedChains(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	evil := newTestChain(t, ev)
	forged := signReport(t, ev.Report, evil.vcekKey)
	for _, tc := range []struct {
		name   string
		edit   func(e *Evidence)
		substr string
	}{
		{"whole chain replaced", func(e *Evidence) {
			e.Report = forged
			e.Certificates = map[string][]byte{CertARK: evil.ark.Raw, CertASK: evil.ask.Raw, CertVCEK: evil.vcek.Raw}
		}, "certificates.ark: not the Kettle TEST-ONLY ARK for Milan"},
		{"ASK replaced under the genuine ARK", func(e *Evidence) {
			e.Report = forged
			e.Certificates[CertASK], e.Certificates[CertVCEK] = evil.ask.Raw, evil.vcek.Raw
		}, "certificates.ask: not certified by the Kettle TEST-ONLY ARK"},
		{"VCEK replaced under the genuine ASK", func(e *Evidence) {
			e.Report = forged
			e.Certificates[CertVCEK] = evil.vcek.Raw
		}, "certificates.vcek: not certified by certificates.ask"},
		{"report signed by another key", func(e *Evidence) {
			e.Report = forged
		}, "report: signature (SIGNATURE) does not verify with certificates.vcek"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cloneEvidence(ev)
			tc.edit(bad)
			_, err := Verify(context.Background(), bad, simOptions())
			wantStepError(t, err, StepChain, tc.substr)
		})
	}
}

func TestVerifyTime(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	for _, now := range []time.Time{
		time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC), // before the test root's validity
		time.Date(2075, 1, 2, 0, 0, 0, 0, time.UTC),   // after it
	} {
		_, err := Verify(context.Background(), ev, VerifyOptions{AllowSimulated: true, Now: now})
		wantStepError(t, err, StepChain, "certificates.ask", "expired or is not yet valid")
	}
}

// TestBaselinePolicy signs reports with the TEST-ONLY chain whose contents
// the baseline policy refuses: the chain holds, the TCB step fails and names
// what it refused, and the claims come back with the error.
func TestBaselinePolicy(t *testing.T) {
	policy := func(p abi.SnpPolicy) func(r *spb.Report) {
		return func(r *spb.Report) { r.Policy = abi.SnpPolicyToBytes(p) }
	}
	lowerTCB := sim.TCB - 1 // boot loader SPL 3
	for _, tc := range []struct {
		name   string
		edit   func(r *spb.Report)
		substr []string
	}{
		{"debug", policy(abi.SnpPolicy{SMT: true, Debug: true}), []string{"POLICY.DEBUG is set"}},
		{"migration agent", policy(abi.SnpPolicy{SMT: true, MigrateMA: true}), []string{"POLICY.MIGRATE_MA is set"}},
		{"CXL", policy(abi.SnpPolicy{SMT: true, CXLAllowed: true}), []string{"CXL"}},
		{"provisional firmware TCB", func(r *spb.Report) { r.CommittedTcb = lowerTCB }, []string{"COMMITTED_TCB", "does not match"}},
		{"provisional firmware build", func(r *spb.Report) { r.CommittedBuild-- }, []string{"committed build number"}},
		{"provisional API version", func(r *spb.Report) { r.CommittedMinor-- }, []string{"committed API version"}},
		{"reported TCB not the VCEK's", func(r *spb.Report) { r.ReportedTcb = lowerTCB }, []string{"REPORTED_TCB", "V[CL]EK certificate"}},
		{"VCEK TCB above current", func(r *spb.Report) { r.CurrentTcb = lowerTCB; r.CommittedTcb = lowerTCB }, []string{"CURRENT_TCB"}},
		{"chip ID not the VCEK's", func(r *spb.Report) { r.ChipId = bytes.Repeat([]byte{1}, 64) }, []string{"CHIP_ID", "HWID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := signedSimEvidence(t, tc.edit)
			claims, err := Verify(context.Background(), ev, simOptions())
			wantStepError(t, err, StepTCB, tc.substr...)
			if claims == nil || !claims.Simulated || !bytes.Equal(claims.Measurement, DefaultSimMeasurement()) {
				t.Errorf("claims with the TCB error: %+v", claims)
			}
			if tc.name == "debug" && !claims.Debug {
				t.Error("claims.Debug is false for a debug guest")
			}
		})
	}
}

// TestBaselineAccepts: reports the baseline policy has no objection to.
func TestBaselineAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(r *spb.Report)
		check func(t *testing.T, c *Claims)
	}{
		{"no SMT", func(r *spb.Report) { r.Policy = abi.SnpPolicyToBytes(abi.SnpPolicy{}) }, nil},
		{"VMPL 2", func(r *spb.Report) { r.Vmpl = 2 }, func(t *testing.T, c *Claims) {
			if c.VMPL != 2 {
				t.Errorf("VMPL %d", c.VMPL)
			}
		}},
		{"masked chip ID", func(r *spb.Report) {
			r.ChipId = make([]byte, 64)
			r.SignerInfo = abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: abi.VcekReportSigner, MaskChipKey: true})
		}, func(t *testing.T, c *Claims) {
			if !bytes.Equal(c.ChipID, make([]byte, 64)) {
				t.Errorf("chip ID %x", c.ChipID)
			}
		}},
		// A version 2 report has no CPUID: the product comes from the VCEK.
		{"report version 2", func(r *spb.Report) { r.Version = 2; r.Cpuid1EaxFms = 0 }, func(t *testing.T, c *Claims) {
			if c.Product != "Kettle simulated Milan-B1" {
				t.Errorf("product %q", c.Product)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Verify(context.Background(), signedSimEvidence(t, tc.edit), simOptions())
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestSignedButMalformed: validly signed reports the chain step refuses for
// what they claim about their own signing.
func TestSignedButMalformed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(r *spb.Report)
		substr string
	}{
		{"signed by a VLEK", func(r *spb.Report) {
			r.SignerInfo = abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: abi.VlekReportSigner})
		}, "certificates.vlek: missing, but the report's SIGNING_KEY says the VLEK signed it"},
		{"unsigned", func(r *spb.Report) {
			r.SignerInfo = abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: abi.NoneReportSigner})
		}, "report: SIGNING_KEY is None"},
		{"Genoa CPUID", func(r *spb.Report) { r.Cpuid1EaxFms = abi.FmsToCpuid1Eax(0x19, 0x11, 0x01) }, "report: product line Genoa has no trusted Kettle TEST-ONLY root"},
		{"unknown CPUID", func(r *spb.Report) { r.Cpuid1EaxFms = abi.FmsToCpuid1Eax(0x17, 0x31, 0x00) }, "is no known SEV-SNP product"},
		{"version 6", func(r *spb.Report) { r.Version = 6 }, "report: report version is: 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(context.Background(), signedSimEvidence(t, tc.edit), simOptions())
			wantStepError(t, err, StepChain, tc.substr)
		})
	}
}

func TestSimRootPinned(t *testing.T) {
	root, err := sim.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(root.ARK.Raw)
	if got := hex.EncodeToString(sum[:]); got != SimSNPRootSHA256 {
		t.Errorf("test ARK SHA-256 %s, pinned %s", got, SimSNPRootSHA256)
	}
}

// TestAMDRootsPinned guards the AMD roots go-sev-guest embeds: an upgrade
// that changes them must be looked at. The fingerprints are those of the ARK
// certificates of AMD's Key Distribution Service cert_chain files as
// go-sev-guest v0.15.0 embeds them.
func TestAMDRootsPinned(t *testing.T) {
	want := map[string]string{
		"Milan": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
		"Genoa": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
		"Turin": "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
	}
	for line, fp := range want {
		r, err := amdRoot(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if r == nil || r.ark == nil || r.ask == nil || r.asvk == nil {
			t.Fatalf("%s: incomplete root %+v", line, r)
		}
		if got := fingerprint(r.ark); got != fp {
			t.Errorf("%s ARK SHA-256 %s, want %s", line, got, fp)
		}
		if r.ark.Subject.CommonName != "ARK-"+line || r.ask.Subject.CommonName != "SEV-"+line || r.asvk.Subject.CommonName != "SEV-VLEK-"+line {
			t.Errorf("%s root names: %s, %s, %s", line, r.ark.Subject.CommonName, r.ask.Subject.CommonName, r.asvk.Subject.CommonName)
		}
		if err := r.ask.CheckSignatureFrom(r.ark); err != nil {
			t.Errorf("%s ASK: %v", line, err)
		}
		if err := r.asvk.CheckSignatureFrom(r.ark); err != nil {
			t.Errorf("%s ASVK: %v", line, err)
		}
	}
	if r, err := amdRoot("Siena"); r != nil || err != nil {
		t.Errorf("amdRoot(Siena) = %v, %v", r, err)
	}
}

// FuzzVerifyReport flips bytes of a verified simulated report: Verify must
// not panic, and must refuse every changed report (every byte of the report
// is either signed, or part of the signature, or must be zero).
func FuzzVerifyReport(f *testing.F) {
	ev := newSimEvidence(f, AttesterOptions{}, [64]byte{1, 2, 3})
	var offsets []int
	for _, field := range snpReportFields {
		offsets = append(offsets, field.offset)
	}
	fuzzFlips(f, ev, offsets, [4]int{0x90, 0xff, 0x2a0, 0x80}, "report")
}

// fuzzFlips is the body of the report and quote fuzz targets: ev verifies;
// flipping up to two bytes of its report (seeded at each field's offset, and
// at pair) must either leave it unchanged and accepted, or be refused at the
// chain step.
func fuzzFlips(f *testing.F, ev *Evidence, offsets []int, pair [4]int, noun string) {
	if _, err := Verify(context.Background(), ev, simOptions()); err != nil {
		f.Fatal(err)
	}
	for _, off := range offsets {
		f.Add(uint16(off), byte(1), uint16(0), byte(0))
	}
	f.Add(uint16(pair[0]), byte(pair[1]), uint16(pair[2]), byte(pair[3]))
	f.Fuzz(func(t *testing.T, at1 uint16, x1 byte, at2 uint16, x2 byte) {
		bad := cloneEvidence(ev)
		bad.Report[int(at1)%len(bad.Report)] ^= x1
		bad.Report[int(at2)%len(bad.Report)] ^= x2
		claims, err := Verify(context.Background(), bad, simOptions())
		if bytes.Equal(bad.Report, ev.Report) {
			if err != nil {
				t.Fatalf("unchanged %s refused: %v", noun, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("changed %s verified: %+v", noun, claims)
		}
		var se *StepError
		if !errors.As(err, &se) || se.Step != StepChain {
			t.Fatalf("changed %s refused at the wrong step: %v", noun, err)
		}
	})
}
