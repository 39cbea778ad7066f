package azsnp_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// startSWTPM starts Debian's swtpm (a real TPM 2.0, software) on a Unix
// socket with its own state directory, and stops it when the test ends. It
// skips the test when swtpm is not installed.
func startSWTPM(t *testing.T) transport.TPM {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm is not on PATH (Debian: apt-get install swtpm swtpm-tools): skipping the vTPM tests")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "tpm.sock")
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting swtpm: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Wait until swtpm accepts connections: the socket file exists from
	// bind(2) on, before swtpm listens, and a connection then is refused.
	// The deadline only keeps a broken swtpm from hanging the test.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("swtpm exited: %v: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm did not create %s: %s", sock, stderr.String())
		}
	}
	tpm, err := linuxudstpm.Open(sock)
	if err != nil {
		t.Fatal(err)
	}
	return tpm
}

// akTemplate is an attestation key as Azure's vTPM holds one: a restricted
// RSA-2048 signing key, RSASSA with SHA-256.
func akTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgRSA,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true,
			NoDA: true, Restricted: true, SignEncrypt: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Scheme: tpm2.TPMTRSAScheme{
				Scheme:  tpm2.TPMAlgRSASSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSigSchemeRSASSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			KeyBits: 2048,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: make([]byte, 256)}),
	}
}

// provisionAzure makes the software TPM look like an Azure CVM's vTPM: an
// AK at handle 0x81000003, and at NV index 0x01400001 an HCL report whose
// SEV-SNP report (signed by Kettle's TEST-ONLY chain) commits to runtime
// claims naming that AK. It returns the TEST-ONLY VCEK.
func provisionAzure(t *testing.T, tpm transport.TPM) []byte {
	t.Helper()
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	primary, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(akTemplate()),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("creating the AK: %v", err)
	}
	if _, err := (tpm2.EvictControl{
		Auth:             owner,
		ObjectHandle:     tpm2.NamedHandle{Handle: primary.ObjectHandle, Name: primary.Name},
		PersistentHandle: azsnp.AKHandle,
	}).Execute(tpm); err != nil {
		t.Fatalf("persisting the AK: %v", err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: primary.ObjectHandle}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	pub, err := primary.OutPublic.Contents()
	if err != nil {
		t.Fatal(err)
	}
	key, err := tpm2.Pub(*pub)
	if err != nil {
		t.Fatal(err)
	}
	ak := azsnp.NewJWK(azsnp.AKKeyID, key.(*rsa.PublicKey))
	claims, err := json.Marshal(map[string]any{
		"keys":             []azsnp.JWK{ak},
		"vm-configuration": azsnp.VMConfiguration{SecureBoot: true, TPMEnabled: true, VMUniqueID: "KETTLE-TEST-ONLY"},
		"user-data":        strings.Repeat("0", 128),
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f sim.ReportFields
	sum := sha256.Sum256(claims)
	copy(f.ReportData[:], sum[:])
	report, err := signer.Sign(sim.NewSNPReport(f))
	if err != nil {
		t.Fatal(err)
	}
	hcl, err := azsnp.NewHCLReport(report, claims, 100)
	if err != nil {
		t.Fatal(err)
	}
	nv := tpm2.TPMSNVPublic{
		NVIndex: azsnp.HCLReportNVIndex,
		NameAlg: tpm2.TPMAlgSHA256,
		Attributes: tpm2.TPMANV{
			OwnerWrite: true, OwnerRead: true, AuthWrite: true, AuthRead: true, NoDA: true,
			NT: tpm2.TPMNTOrdinary,
		},
		DataSize: uint16(len(hcl)),
	}
	if _, err := (tpm2.NVDefineSpace{AuthHandle: owner, PublicInfo: tpm2.New2B(nv)}).Execute(tpm); err != nil {
		t.Fatalf("defining NV index 0x%08x: %v", azsnp.HCLReportNVIndex, err)
	}
	rp, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(azsnp.HCLReportNVIndex)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(hcl); off += 512 {
		end := min(off+512, len(hcl))
		if _, err := (tpm2.NVWrite{
			AuthHandle: owner,
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(azsnp.HCLReportNVIndex), Name: rp.NVName},
			Data:       tpm2.TPM2BMaxNVBuffer{Buffer: hcl[off:end]},
			Offset:     uint16(off),
		}).Execute(tpm); err != nil {
			t.Fatalf("writing the HCL report at %d: %v", off, err)
		}
		// The name changes once the index is written.
		if rp, err = (tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(azsnp.HCLReportNVIndex)}).Execute(tpm); err != nil {
			t.Fatal(err)
		}
	}
	return signer.Chain().VCEK
}

// simNow is inside the validity of Kettle's TEST-ONLY chain.
var simNow = time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)

// TestSWTPMAttest produces az-snp evidence from a real (software) TPM 2.0
// provisioned as Azure provisions its vTPM, and verifies it with the same
// verifier as the Azure fixture: the SEV-SNP report is TEST-ONLY, so the
// claims say simulated; the quote binds Kettle's provenance digest ‖ nonce.
func TestSWTPMAttest(t *testing.T) {
	tpm := startSWTPM(t)
	vcek := provisionAzure(t, tpm)
	// Something measured, so that the PCRs are not all initial values.
	if _, err := (tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(16), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}}},
	}).Execute(tpm); err != nil {
		t.Fatal(err)
	}

	prov := []byte(`{"_type":"https://in-toto.io/Statement/v1"}` + "\n")
	var nonce [32]byte
	copy(nonce[:], "requester's nonce")
	a := &azsnp.Attester{TPM: tpm, VCEK: vcek}
	ev, err := a.Attest(context.Background(), azsnp.KettleBinding(prov, nonce))
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = azsnp.DecodeEvidence(data); err != nil {
		t.Fatalf("DecodeEvidence: %v", err)
	}
	claims, err := azsnp.Verify(context.Background(), ev, azsnp.Options{VerifySNP: snpVerifier(simNow, true)})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !claims.Simulated {
		t.Error("evidence with a TEST-ONLY SEV-SNP report is not reported as simulated")
	}
	if err := azsnp.CheckBinding(claims, azsnp.BindingKettle, prov, nonce); err != nil {
		t.Errorf("binding: %v", err)
	}
	err = azsnp.CheckBinding(claims, azsnp.BindingKettle, prov, [32]byte{})
	wantStep(t, err, azsnp.StepBinding, "nonce")
	pcr16 := claims.PCRs[16]
	if hex.EncodeToString(pcr16) == strings.Repeat("00", 32) {
		t.Error("PCR 16 was extended but reads as zero")
	}

	// PCR policy: the extended value allowed, or not.
	opts := azsnp.Options{VerifySNP: snpVerifier(simNow, true), PCRs: azsnp.PCRPolicy{16: {pcr16}, 0: {claims.PCRs[0]}}}
	if _, err := azsnp.Verify(context.Background(), ev, opts); err != nil {
		t.Errorf("PCR policy allowing the values: %v", err)
	}
	opts.PCRs = azsnp.PCRPolicy{16: {make([]byte, 32)}}
	_, err = azsnp.Verify(context.Background(), ev, opts)
	wantStep(t, err, azsnp.StepPCRPolicy, "PCR 16")

	// Without simulated evidence allowed, the SEV-SNP step refuses it.
	_, err = azsnp.Verify(context.Background(), ev, azsnp.Options{VerifySNP: snpVerifier(simNow, false)})
	wantStep(t, err, azsnp.StepSNPReport, "certificates.vcek: not certified")
}

// TestSWTPMWrongAK: the attester refuses a vTPM whose key at the AK handle
// is not the one the HCL report names.
func TestSWTPMWrongAK(t *testing.T) {
	tpm := startSWTPM(t)
	vcek := provisionAzure(t, tpm)
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	// Replace the persisted AK with another key.
	rp, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(azsnp.AKHandle)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.EvictControl{Auth: owner, ObjectHandle: tpm2.NamedHandle{Handle: azsnp.AKHandle, Name: rp.Name}, PersistentHandle: azsnp.AKHandle}).Execute(tpm); err != nil {
		t.Fatalf("evicting the AK: %v", err)
	}
	tmpl := akTemplate()
	tmpl.ObjectAttributes.NoDA = false // a different template: a different key
	other, err := tpm2.CreatePrimary{PrimaryHandle: owner, InPublic: tpm2.New2B(tmpl)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.EvictControl{Auth: owner, ObjectHandle: tpm2.NamedHandle{Handle: other.ObjectHandle, Name: other.Name}, PersistentHandle: azsnp.AKHandle}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	a := &azsnp.Attester{TPM: tpm, VCEK: vcek}
	_, err = a.Attest(context.Background(), make([]byte, 32))
	if err == nil || !strings.Contains(err.Error(), "not the attestation key the HCL report names") {
		t.Fatalf("Attest with another key at the AK handle: %v", err)
	}
	if _, err := a.Attest(context.Background(), make([]byte, 65)); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("65 bytes of qualifying data: %v", err)
	}
	if _, err := (&azsnp.Attester{TPM: tpm}).Attest(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no VCEK") {
		t.Errorf("no VCEK: %v", err)
	}
}

// TestSWTPMAttestKettle: package attest's az-snp backend over the software
// TPM writes evidence.json that attest decodes and verifies (SIMULATED),
// with the report data in the quote's qualifying data and the launch
// measurement of the HCL report's SEV-SNP report.
func TestSWTPMAttestKettle(t *testing.T) {
	tpm := startSWTPM(t)
	vcek := provisionAzure(t, tpm)
	a, err := attest.NewAzSNPAttester(tpm, vcek, attest.AttesterOptions{})
	if err != nil {
		t.Fatalf("NewAzSNPAttester: %v", err)
	}
	if a.Platform() != attest.PlatformAzSNP || len(a.Measurement()) != 48 {
		t.Fatalf("platform %s, measurement %x", a.Platform(), a.Measurement())
	}
	rd := attest.ReportData(sha256.Sum256([]byte("provenance.json")), [32]byte{7})
	ev, err := a.Attest(context.Background(), rd)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = attest.DecodeEvidence(data); err != nil {
		t.Fatalf("DecodeEvidence: %v", err)
	}
	claims, err := attest.Verify(context.Background(), ev, attest.VerifyOptions{AllowSimulated: true, Now: simNow})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !claims.Simulated || !bytes.Equal(claims.QualifyingData, rd[:]) || !bytes.Equal(claims.Measurement, a.Measurement()) {
		t.Errorf("claims: simulated %v, qualifying data %x, measurement %x", claims.Simulated, claims.QualifyingData, claims.Measurement)
	}
	if _, err := attest.NewAzSNPAttester(tpm, vcek, attest.AttesterOptions{Measurement: make([]byte, 48)}); err == nil {
		t.Error("a measurement set for az-snp accepted")
	}
}
