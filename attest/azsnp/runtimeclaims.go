package azsnp

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// AKKeyID is the "kid" of the vTPM attestation key in the runtime claims.
const AKKeyID = "HCLAkPub"

// MinAKBits is the smallest RSA modulus accepted for the attestation key.
const MinAKBits = 2048

// RuntimeClaims are the HCL report's runtime claims, the JSON document the
// SEV-SNP report's REPORT_DATA commits to.
type RuntimeClaims struct {
	// Keys are the vTPM's public keys, as JSON Web Keys.
	Keys []JWK `json:"keys"`
	// VMConfiguration is what the paravisor says of the VM.
	VMConfiguration *VMConfiguration `json:"vm-configuration,omitempty"`
	// UserData is the hex the guest last wrote to the vTPM's NV index
	// 0x01400002 (all zeros when it wrote nothing).
	UserData string `json:"user-data,omitempty"`
}

// JWK is an RSA JSON Web Key (RFC 7517) as the runtime claims list them.
type JWK struct {
	KeyID  string   `json:"kid"`
	KeyOps []string `json:"key_ops,omitempty"`
	Type   string   `json:"kty"`
	E      string   `json:"e"`
	N      string   `json:"n"`
}

// VMConfiguration is the runtime claims' "vm-configuration".
type VMConfiguration struct {
	ConsoleEnabled bool   `json:"console-enabled"`
	SecureBoot     bool   `json:"secure-boot"`
	TPMEnabled     bool   `json:"tpm-enabled"`
	VMUniqueID     string `json:"vmUniqueId"`
}

// ParseRuntimeClaims decodes the runtime claims: one JSON object (no member
// twice, at any depth) with a "keys" array. Members this package does not
// know are allowed (the paravisor may add claims). Errors name the field at
// fault, not the runtime claims: the caller says what it parsed.
func ParseRuntimeClaims(b []byte) (*RuntimeClaims, error) {
	if err := strictjson.Check(b); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	if _, ok := top["keys"]; !ok {
		return nil, errors.New(`keys: missing (want the vTPM's keys, among them HCLAkPub)`)
	}
	var c RuntimeClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// AK returns the attestation key: the one key of kid HCLAkPub, which must
// be an RSA key of at least MinAKBits bits.
func (c *RuntimeClaims) AK() (*rsa.PublicKey, error) {
	var found *JWK
	for i := range c.Keys {
		if c.Keys[i].KeyID == AKKeyID {
			if found != nil {
				return nil, fmt.Errorf("runtime claims: keys: two keys of kid %q", AKKeyID)
			}
			found = &c.Keys[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("runtime claims: keys: no key of kid %q (the vTPM attestation key)", AKKeyID)
	}
	return found.RSAPublicKey()
}

// RSAPublicKey returns the RSA public key k describes.
func (k *JWK) RSAPublicKey() (*rsa.PublicKey, error) {
	name := fmt.Sprintf("runtime claims: key %q", k.KeyID)
	if k.Type != "RSA" {
		return nil, fmt.Errorf("%s: kty is %q, want \"RSA\"", name, k.Type)
	}
	n, err := base64.RawURLEncoding.Strict().DecodeString(k.N)
	if err != nil {
		return nil, fmt.Errorf("%s: n: not unpadded base64url: %w", name, err)
	}
	e, err := base64.RawURLEncoding.Strict().DecodeString(k.E)
	if err != nil {
		return nil, fmt.Errorf("%s: e: not unpadded base64url: %w", name, err)
	}
	if len(n) == 0 || n[0] == 0 {
		return nil, fmt.Errorf("%s: n: empty or with a leading zero byte", name)
	}
	if len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return nil, fmt.Errorf("%s: e: want 1 to 4 bytes without a leading zero, got %d", name, len(e))
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < MinAKBits {
		return nil, fmt.Errorf("%s: n: %d-bit modulus, want at least %d", name, pub.N.BitLen(), MinAKBits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("%s: e: %d is not an odd exponent of at least 3", name, pub.E)
	}
	return pub, nil
}

// NewJWK returns the JWK of kid for an RSA public key, as the runtime claims
// list the attestation key.
func NewJWK(kid string, pub *rsa.PublicKey) JWK {
	e := big.NewInt(int64(pub.E)).Bytes()
	return JWK{KeyID: kid, KeyOps: []string{"sign"}, Type: "RSA",
		E: base64.RawURLEncoding.EncodeToString(e), N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes())}
}
