package attest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/kettle-build/kettle/attest/azsnp"
	"gopkg.in/yaml.v3"
)

// PolicyVersion is the version of the policy file format ParsePolicy reads.
const PolicyVersion = 1

// MaxPolicySize is the largest policy file ParsePolicy reads.
const MaxPolicySize = 1 << 20

// Policy is what a verifier requires of verified claims beyond Kettle's
// baseline (a chain to the vendor root, no debug guest, no migration agent,
// a consistent firmware TCB). It is read from a JSON or YAML file:
//
//	version: 1
//	platforms: [sev-snp, tdx]        # evidence of any other platform fails
//	snp:
//	  measurements: ["<96 hex digits>", ...]  # allowed MEASUREMENTs
//	  hostData: "<64 hex digits>"              # required HOST_DATA
//	  vmpl: 0                                  # required VMPL
//	  minTCB: {bootloader: 3, tee: 0, snp: 20, microcode: 209}
//	  minGuestSVN: 0
//	  allowDebug: false                        # only false is accepted
//	  allowMigrationAgent: false               # only false is accepted
//	tdx:
//	  measurements:                            # allowed MRTD + RTMRs
//	    - {mrtd: "<96 hex>", rtmr0: "<96 hex>", rtmr1: ..., rtmr2: ..., rtmr3: ...}
//	  mrConfigID: "<96 hex digits>"            # required MRCONFIGID
//	  minTEETCBSVN: "<32 hex digits>"          # component-wise minimum
//	  minQESVN: 0
//	  minPCESVN: 0
//	  requireCollateral: true                  # TCB judged with Intel's TCB info
//	  allowDebug: false
//
// Every key is optional except version; a key that is absent makes no
// requirement, and Check says which requirements it did not make. Unknown
// keys and values of the wrong type are errors naming the key.
type Policy struct {
	Version int
	// Image names a Kettle CVM image directory (or its measurement.json),
	// relative to the policy file: the launch measurement must be one of
	// the image's VM shapes. The caller that reads the file resolves it;
	// this package only carries the name.
	Image     string
	Platforms []Platform
	SNP       *SNPPolicy
	TDX       *TDXPolicy
	AzSNP     *AzSNPPolicy
}

// AzSNPPolicy is the az-snp part of a Policy, on top of its snp part (which
// applies to the SEV-SNP report inside the HCL report): the values the
// vTPM's PCRs may hold. In the file it reads
//
//	azsnp:
//	  pcrs:
//	    "7": ["<hex SHA-256>", …]
//
// with PCR indices 0 to 23 as string keys.
type AzSNPPolicy struct {
	// PCRs maps a PCR index to its allowed values (32 bytes each).
	PCRs map[int][][]byte
}

// SNPPolicy is the SEV-SNP part of a Policy.
type SNPPolicy struct {
	// Measurements lists the allowed launch measurements (48 bytes each).
	Measurements [][]byte
	// HostData is the required HOST_DATA (32 bytes), nil for any.
	HostData []byte
	// VMPL is the required VMPL, nil for any.
	VMPL *int
	// MinTCB is the minimum reported TCB, component-wise; nil for none.
	MinTCB *SNPTCB
	// MinGuestSVN is the minimum GUEST_SVN.
	MinGuestSVN uint32
}

// SNPTCB is an SEV-SNP TCB_VERSION by component (Milan and Genoa layout).
type SNPTCB struct {
	BootLoader, TEE, SNP, Microcode uint8
}

func (t SNPTCB) String() string {
	return fmt.Sprintf("bl=%d tee=%d snp=%d ucode=%d", t.BootLoader, t.TEE, t.SNP, t.Microcode)
}

// TDXPolicy is the TDX part of a Policy.
type TDXPolicy struct {
	// Measurements lists the allowed launch measurements; a report matches
	// one when MRTD and every RTMR the entry names are equal.
	Measurements []TDXMeasurement
	// MRConfigID is the required MRCONFIGID (48 bytes), nil for any.
	MRConfigID []byte
	// MinTEETCBSVN is the minimum TEE_TCB_SVN (16 bytes), component-wise.
	MinTEETCBSVN []byte
	// MinQESVN and MinPCESVN are the minimum quoting enclave and PCE SVNs.
	MinQESVN, MinPCESVN uint16
	// RequireCollateral fails evidence whose TCB was not judged against
	// Intel's TCB info and QE identity (--collateral).
	RequireCollateral bool
}

// TDXMeasurement is one allowed TDX launch: MRTD and optionally RTMRs
// (nil entries match anything).
type TDXMeasurement struct {
	MRTD  []byte
	RTMRs [4][]byte
}

// ParsePolicy reads a policy file, JSON or YAML (JSON is read as the YAML
// subset it is). Errors name the key at fault, as a dotted path.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("policy is %d bytes, more than the %d this reader accepts", len(data), MaxPolicySize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("policy: empty (want at least version: 1)")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy: not valid JSON or YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("policy: more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	m, err := pmap(root, "policy", []string{"version", "image", "platforms", "snp", "tdx", "azsnp"})
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	v, ok := m["version"]
	if !ok {
		return nil, errors.New("version: missing (want version: 1)")
	}
	n, err := pint(v, "version", 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	if n != PolicyVersion {
		return nil, fmt.Errorf("version: %d is not supported (this build reads version %d)", n, PolicyVersion)
	}
	p.Version = int(n)
	if v, ok := m["image"]; ok {
		if p.Image, err = pstring(v, "image"); err != nil {
			return nil, err
		}
		if p.Image == "" {
			return nil, errors.New("image: empty (name an image directory or its measurement.json)")
		}
	}
	if v, ok := m["platforms"]; ok {
		items, err := plist(v, "platforms")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			key := fmt.Sprintf("platforms[%d]", i)
			s, err := pstring(it, key)
			if err != nil {
				return nil, err
			}
			pl, err := ParsePlatform(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			p.Platforms = append(p.Platforms, pl)
		}
	}
	if v, ok := m["snp"]; ok {
		if p.SNP, err = parseSNPPolicy(v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["tdx"]; ok {
		if p.TDX, err = parseTDXPolicy(v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["azsnp"]; ok {
		if p.AzSNP, err = parseAzSNPPolicy(v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseAzSNPPolicy(node *yaml.Node) (*AzSNPPolicy, error) {
	m, err := pmap(node, "azsnp", []string{"pcrs"})
	if err != nil {
		return nil, err
	}
	ap := &AzSNPPolicy{PCRs: map[int][][]byte{}}
	v, ok := m["pcrs"]
	if !ok {
		return ap, nil
	}
	indices := make([]string, azsnp.NumPCRs)
	for i := range indices {
		indices[i] = strconv.Itoa(i)
	}
	pm, err := pmap(v, "azsnp.pcrs", indices)
	if err != nil {
		return nil, err
	}
	for k, v := range pm {
		i, _ := strconv.Atoi(k) // pmap admits only "0" to "23"
		if ap.PCRs[i], err = phexList(v, "azsnp.pcrs."+k, 32); err != nil {
			return nil, err
		}
		if len(ap.PCRs[i]) == 0 {
			return nil, fmt.Errorf("azsnp.pcrs.%s: empty list (no value would be allowed)", k)
		}
	}
	return ap, nil
}

func parseSNPPolicy(node *yaml.Node) (*SNPPolicy, error) {
	m, err := pmap(node, "snp", []string{"measurements", "hostData", "vmpl", "minTCB", "minGuestSVN", "allowDebug", "allowMigrationAgent"})
	if err != nil {
		return nil, err
	}
	sp := &SNPPolicy{}
	if v, ok := m["measurements"]; ok {
		if sp.Measurements, err = phexList(v, "snp.measurements", 48); err != nil {
			return nil, err
		}
	}
	if v, ok := m["hostData"]; ok {
		if sp.HostData, err = phex(v, "snp.hostData", 32); err != nil {
			return nil, err
		}
	}
	if v, ok := m["vmpl"]; ok {
		n, err := pint(v, "snp.vmpl", 0, 3)
		if err != nil {
			return nil, err
		}
		vmpl := int(n)
		sp.VMPL = &vmpl
	}
	if v, ok := m["minTCB"]; ok {
		tm, err := pmap(v, "snp.minTCB", []string{"bootloader", "tee", "snp", "microcode"})
		if err != nil {
			return nil, err
		}
		t := &SNPTCB{}
		for _, f := range []struct {
			key string
			dst *uint8
		}{{"bootloader", &t.BootLoader}, {"tee", &t.TEE}, {"snp", &t.SNP}, {"microcode", &t.Microcode}} {
			if v, ok := tm[f.key]; ok {
				n, err := pint(v, "snp.minTCB."+f.key, 0, 255)
				if err != nil {
					return nil, err
				}
				*f.dst = uint8(n)
			}
		}
		sp.MinTCB = t
	}
	if v, ok := m["minGuestSVN"]; ok {
		n, err := pint(v, "snp.minGuestSVN", 0, math.MaxUint32)
		if err != nil {
			return nil, err
		}
		sp.MinGuestSVN = uint32(n)
	}
	for _, k := range []string{"allowDebug", "allowMigrationAgent"} {
		if err := pfalse(m, "snp", k); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

func parseTDXPolicy(node *yaml.Node) (*TDXPolicy, error) {
	m, err := pmap(node, "tdx", []string{"measurements", "mrConfigID", "minTEETCBSVN", "minQESVN", "minPCESVN", "requireCollateral", "allowDebug"})
	if err != nil {
		return nil, err
	}
	tp := &TDXPolicy{}
	if v, ok := m["measurements"]; ok {
		items, err := plist(v, "tdx.measurements")
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			key := fmt.Sprintf("tdx.measurements[%d]", i)
			mm, err := pmap(it, key, []string{"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"})
			if err != nil {
				return nil, err
			}
			var tm TDXMeasurement
			v, ok := mm["mrtd"]
			if !ok {
				return nil, fmt.Errorf("%s.mrtd: missing (every allowed measurement names its MRTD)", key)
			}
			if tm.MRTD, err = phex(v, key+".mrtd", 48); err != nil {
				return nil, err
			}
			for r := 0; r < 4; r++ {
				name := fmt.Sprintf("rtmr%d", r)
				if v, ok := mm[name]; ok {
					if tm.RTMRs[r], err = phex(v, key+"."+name, 48); err != nil {
						return nil, err
					}
				}
			}
			tp.Measurements = append(tp.Measurements, tm)
		}
	}
	if v, ok := m["mrConfigID"]; ok {
		if tp.MRConfigID, err = phex(v, "tdx.mrConfigID", 48); err != nil {
			return nil, err
		}
	}
	if v, ok := m["minTEETCBSVN"]; ok {
		if tp.MinTEETCBSVN, err = phex(v, "tdx.minTEETCBSVN", 16); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		key string
		dst *uint16
	}{{"minQESVN", &tp.MinQESVN}, {"minPCESVN", &tp.MinPCESVN}} {
		if v, ok := m[f.key]; ok {
			n, err := pint(v, "tdx."+f.key, 0, math.MaxUint16)
			if err != nil {
				return nil, err
			}
			*f.dst = uint16(n)
		}
	}
	if v, ok := m["requireCollateral"]; ok {
		if tp.RequireCollateral, err = pbool(v, "tdx.requireCollateral"); err != nil {
			return nil, err
		}
	}
	if err := pfalse(m, "tdx", "allowDebug"); err != nil {
		return nil, err
	}
	return tp, nil
}

// The helpers below read one YAML node as the schema wants it, naming key
// in their errors.

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a scalar " + n.Tag
	}
	return "nothing"
}

func pmap(n *yaml.Node, key string, known []string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping (an object), got %s", key, describeNode(n))
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, fmt.Errorf("%s: key %q is %s, want a string", key, k.Value, describeNode(k))
		}
		path := k.Value
		if key != "policy" {
			path = key + "." + k.Value
		}
		found := false
		for _, kn := range known {
			found = found || kn == k.Value
		}
		if !found {
			sorted := append([]string(nil), known...)
			sort.Strings(sorted)
			return nil, fmt.Errorf("%s: unknown key (want one of %s)", path, strings.Join(sorted, ", "))
		}
		if _, dup := m[k.Value]; dup {
			return nil, fmt.Errorf("%s: given twice", path)
		}
		m[k.Value] = v
	}
	return m, nil
}

// plist reads a list of a policy. Every list of a policy is an allow-list,
// so an empty one is refused: it would allow nothing, and read as "no list"
// it would allow everything.
func plist(n *yaml.Node, key string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: want a list, got %s", key, describeNode(n))
	}
	if len(n.Content) == 0 {
		return nil, fmt.Errorf("%s: empty list (no value would be allowed; leave the key out to allow any)", key)
	}
	return n.Content, nil
}

func pstring(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", fmt.Errorf("%s: want a string, got %s", key, describeNode(n))
	}
	return n.Value, nil
}

func pbool(n *yaml.Node, key string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, fmt.Errorf("%s: want true or false, got %s", key, describeNode(n))
	}
	switch n.Value {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: want true or false, got %q", key, n.Value)
}

// pfalse reads an optional allowX key that may only be false: Kettle's
// baseline refuses what it would allow, and a policy cannot relax it.
func pfalse(m map[string]*yaml.Node, section, key string) error {
	v, ok := m[key]
	if !ok {
		return nil
	}
	b, err := pbool(v, section+"."+key)
	if err != nil {
		return err
	}
	if b {
		return fmt.Errorf("%s.%s: true is not accepted: Kettle never accepts such a guest, whatever the policy", section, key)
	}
	return nil
}

// pint reads a decimal integer in [lo, hi].
func pint(n *yaml.Node, key string, lo, hi int64) (int64, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, fmt.Errorf("%s: want an integer, got %s", key, describeNode(n))
	}
	var v int64
	digits := strings.TrimPrefix(n.Value, "+")
	if digits == "" || len(digits) > 18 {
		return 0, fmt.Errorf("%s: want a decimal integer from %d to %d, got %q", key, lo, hi, n.Value)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s: want a decimal integer from %d to %d, got %q", key, lo, hi, n.Value)
		}
		v = v*10 + int64(c-'0')
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%s: %d is out of range (want %d to %d)", key, v, lo, hi)
	}
	return v, nil
}

// phex reads a string of exactly size bytes in hex (either case).
func phex(n *yaml.Node, key string, size int) ([]byte, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return nil, fmt.Errorf("%s: want a string of %d hex digits (quote it), got %s", key, 2*size, describeNode(n))
	}
	if len(n.Value) != 2*size {
		return nil, fmt.Errorf("%s: want %d hex digits (%d bytes), got %d characters", key, 2*size, size, len(n.Value))
	}
	b, err := hex.DecodeString(n.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %w", key, err)
	}
	return b, nil
}

func phexList(n *yaml.Node, key string, size int) ([][]byte, error) {
	items, err := plist(n, key)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i, it := range items {
		b, err := phex(it, fmt.Sprintf("%s[%d]", key, i), size)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Marshal returns p as the JSON policy file ParsePolicy reads back to an
// equal Policy (hex in lower case, absent keys left out).
func (p *Policy) Marshal() ([]byte, error) {
	type tcb struct {
		BootLoader uint8 `json:"bootloader"`
		TEE        uint8 `json:"tee"`
		SNP        uint8 `json:"snp"`
		Microcode  uint8 `json:"microcode"`
	}
	type snp struct {
		Measurements []string `json:"measurements,omitempty"`
		HostData     string   `json:"hostData,omitempty"`
		VMPL         *int     `json:"vmpl,omitempty"`
		MinTCB       *tcb     `json:"minTCB,omitempty"`
		MinGuestSVN  uint32   `json:"minGuestSVN,omitempty"`
	}
	type tdxm struct {
		MRTD  string `json:"mrtd"`
		RTMR0 string `json:"rtmr0,omitempty"`
		RTMR1 string `json:"rtmr1,omitempty"`
		RTMR2 string `json:"rtmr2,omitempty"`
		RTMR3 string `json:"rtmr3,omitempty"`
	}
	type tdx struct {
		Measurements      []tdxm `json:"measurements,omitempty"`
		MRConfigID        string `json:"mrConfigID,omitempty"`
		MinTEETCBSVN      string `json:"minTEETCBSVN,omitempty"`
		MinQESVN          uint16 `json:"minQESVN,omitempty"`
		MinPCESVN         uint16 `json:"minPCESVN,omitempty"`
		RequireCollateral bool   `json:"requireCollateral,omitempty"`
	}
	out := struct {
		Version   int        `json:"version"`
		Image     string     `json:"image,omitempty"`
		Platforms []Platform `json:"platforms,omitempty"`
		SNP       *snp       `json:"snp,omitempty"`
		TDX       *tdx       `json:"tdx,omitempty"`
		AzSNP     *struct {
			PCRs map[string][]string `json:"pcrs,omitempty"`
		} `json:"azsnp,omitempty"`
	}{Version: p.Version, Image: p.Image, Platforms: p.Platforms}
	hexes := func(bs [][]byte) []string {
		var s []string
		for _, b := range bs {
			s = append(s, hex.EncodeToString(b))
		}
		return s
	}
	if sp := p.SNP; sp != nil {
		out.SNP = &snp{Measurements: hexes(sp.Measurements), HostData: hex.EncodeToString(sp.HostData), VMPL: sp.VMPL, MinGuestSVN: sp.MinGuestSVN}
		if sp.MinTCB != nil {
			out.SNP.MinTCB = &tcb{sp.MinTCB.BootLoader, sp.MinTCB.TEE, sp.MinTCB.SNP, sp.MinTCB.Microcode}
		}
	}
	if tp := p.TDX; tp != nil {
		out.TDX = &tdx{MRConfigID: hex.EncodeToString(tp.MRConfigID), MinTEETCBSVN: hex.EncodeToString(tp.MinTEETCBSVN),
			MinQESVN: tp.MinQESVN, MinPCESVN: tp.MinPCESVN, RequireCollateral: tp.RequireCollateral}
		for _, m := range tp.Measurements {
			out.TDX.Measurements = append(out.TDX.Measurements, tdxm{hex.EncodeToString(m.MRTD), hex.EncodeToString(m.RTMRs[0]),
				hex.EncodeToString(m.RTMRs[1]), hex.EncodeToString(m.RTMRs[2]), hex.EncodeToString(m.RTMRs[3])})
		}
	}
	if ap := p.AzSNP; ap != nil {
		out.AzSNP = &struct {
			PCRs map[string][]string `json:"pcrs,omitempty"`
		}{PCRs: map[string][]string{}}
		for i, vs := range ap.PCRs {
			out.AzSNP.PCRs[strconv.Itoa(i)] = hexes(vs)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
