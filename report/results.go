package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/strictjson"
	"github.com/kettle-build/kettle/rebuild"
)

// MaxResultsFile bounds a saved results file: a result is a few KiB (its
// differing files are bounded by the rebuild), so 64 MiB holds thousands.
const MaxResultsFile = 64 << 20

// ReadResults reads a file of saved `kettle rebuild --json` output: one
// or more results, each a JSON object, one after the other (as repeated
// runs append them) or in JSON arrays.
func ReadResults(path string) ([]rebuild.Result, error) {
	data, err := inputfile.Read(path, MaxResultsFile)
	if err != nil {
		return nil, err
	}
	results, err := DecodeResults(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return results, nil
}

// ReadResultsFrom reads saved results from r (standard input), at most
// MaxResultsFile bytes of them; name says where they come from in errors.
func ReadResultsFrom(r io.Reader, name string) ([]rebuild.Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxResultsFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxResultsFile {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", name, MaxResultsFile)
	}
	results, err := DecodeResults(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return results, nil
}

// DecodeResults decodes saved results strictly: JSON values separated by
// white space, each a result object or a non-empty array of them; no
// unknown or duplicate field, and every result consistent with itself (see
// checkResult). Errors name the field, as in "[1].outputs[0].status",
// after "value N: " when there are several values.
func DecodeResults(data []byte) ([]rebuild.Result, error) {
	values, err := splitValues(data)
	if err != nil {
		return nil, err
	}
	var results []rebuild.Result
	for i, v := range values {
		rs, err := decodeValue(v)
		if err != nil {
			if len(values) > 1 {
				return nil, fmt.Errorf("value %d: %w", i+1, err)
			}
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// splitValues cuts data into its top-level JSON values.
func splitValues(data []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var values []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("value %d: not JSON: %w", len(values)+1, err)
		}
		values = append(values, v)
	}
	if len(values) == 0 {
		return nil, errors.New("empty, want one or more results")
	}
	return values, nil
}

// decodeValue decodes one value: a result, or an array of results.
func decodeValue(v json.RawMessage) ([]rebuild.Result, error) {
	if v[0] == '[' {
		var results []rebuild.Result
		if err := strictjson.Unmarshal(v, &results); err != nil {
			return nil, err
		}
		if len(results) == 0 {
			return nil, errors.New("an empty array, want at least one result")
		}
		for i := range results {
			if err := checkResult(&results[i]); err != nil {
				return nil, fmt.Errorf("[%d].%w", i, err)
			}
		}
		return results, nil
	}
	var r rebuild.Result
	if err := strictjson.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if err := checkResult(&r); err != nil {
		return nil, err
	}
	return []rebuild.Result{r}, nil
}

// checkResult refuses a result that no rebuild would have written: a
// field out of its grammar, a status that contradicts the digests, counts
// that are not those of the outputs.
func checkResult(r *rebuild.Result) error {
	if r.Bundle == "" {
		return errors.New("bundle: empty, want the bundle's path")
	}
	switch {
	case r.ProvenanceSHA256 == "" && r.Error == "":
		return errors.New("provenanceSha256: empty, want 64 lower-case hex digits (only a rebuild that stopped may have none)")
	case r.ProvenanceSHA256 == "" && len(r.Outputs) > 0:
		return errors.New("provenanceSha256: empty for a rebuild that compared outputs")
	case r.ProvenanceSHA256 != "" && !isSHA256Hex(r.ProvenanceSHA256):
		return fmt.Errorf("provenanceSha256: %q, want 64 lower-case hex digits", r.ProvenanceSHA256)
	}
	if !r.Verified && r.NotVerifiedReason == "" {
		return errors.New("notVerifiedReason: empty for a bundle that did not verify, want the verdict")
	}
	if r.Verified && r.NotVerifiedReason != "" {
		return errors.New("notVerifiedReason: given for a bundle that verified")
	}
	if r.OK && (!r.Verified || r.Error != "") {
		return errors.New("ok: true for a bundle that did not verify or whose rebuild stopped")
	}
	var compared rebuild.Counts
	for i := range r.Outputs {
		if err := checkOutput(&r.Outputs[i], r.Verified); err != nil {
			return fmt.Errorf("outputs[%d].%w", i, err)
		}
		if r.OK && r.Outputs[i].Status != rebuild.Reproduced {
			return fmt.Errorf("outputs[%d].status: %q in a result that is ok", i, r.Outputs[i].Status)
		}
		if r.Closure == nil {
			tally(&compared, r.Outputs[i].Status)
		}
	}
	if r.Closure != nil {
		if !r.Deep {
			return errors.New("closure: given for a rebuild that was not deep")
		}
		if err := checkClosure(r.Closure, r.Verified, &compared); err != nil {
			return fmt.Errorf("closure.%w", err)
		}
	}
	if r.Counts.Reproduced != compared.Reproduced || r.Counts.Differs != compared.Differs ||
		r.Counts.NotBuilt != compared.NotBuilt || r.Counts.NotAttested != compared.NotAttested {
		return fmt.Errorf("counts: %d reproduced, %d differ, %d not built, %d not attested, but the outputs compared are %d, %d, %d and %d",
			r.Counts.Reproduced, r.Counts.Differs, r.Counts.NotBuilt, r.Counts.NotAttested,
			compared.Reproduced, compared.Differs, compared.NotBuilt, compared.NotAttested)
	}
	return nil
}

func checkClosure(c *rebuild.Closure, verified bool, compared *rebuild.Counts) error {
	first := map[string]bool{}
	for i, d := range c.Derivations {
		if d.Drv == "" {
			return fmt.Errorf("derivations[%d].drv: empty, want a .drv path", i)
		}
		if !knownStatus(d.Status) {
			return fmt.Errorf("derivations[%d].status: %q, want %s", i, d.Status, statusList())
		}
		if d.FirstDiffering && d.Status != rebuild.Differs {
			return fmt.Errorf("derivations[%d].firstDiffering: true for a derivation whose status is %q", i, d.Status)
		}
		if d.FirstDiffering {
			first[d.Drv] = true
		}
		for j := range d.Outputs {
			if err := checkOutput(&d.Outputs[j], verified); err != nil {
				return fmt.Errorf("derivations[%d].outputs[%d].%w", i, j, err)
			}
			tally(compared, d.Outputs[j].Status)
		}
	}
	if len(first) != len(c.FirstDiffering) {
		return fmt.Errorf("firstDiffering: %d derivations, but %d are marked firstDiffering", len(c.FirstDiffering), len(first))
	}
	for i, drv := range c.FirstDiffering {
		if !first[drv] {
			return fmt.Errorf("firstDiffering[%d]: %q is no derivation marked firstDiffering", i, drv)
		}
	}
	return nil
}

func tally(c *rebuild.Counts, s rebuild.Status) {
	switch s {
	case rebuild.Reproduced:
		c.Reproduced++
	case rebuild.Differs:
		c.Differs++
	case rebuild.NotBuilt:
		c.NotBuilt++
	case rebuild.NotAttested:
		c.NotAttested++
	}
}

func knownStatus(s rebuild.Status) bool {
	switch s {
	case rebuild.Reproduced, rebuild.Differs, rebuild.NotBuilt, rebuild.NotAttested:
		return true
	}
	return false
}

func statusList() string {
	return fmt.Sprintf("%q, %q, %q or %q", rebuild.Reproduced, rebuild.Differs, rebuild.NotBuilt, rebuild.NotAttested)
}

func checkOutput(o *rebuild.Output, verified bool) error {
	if o.Name == "" {
		return errors.New("name: empty, want the output's name")
	}
	if o.StorePath == "" {
		return errors.New("storePath: empty, want the output's store path")
	}
	if !knownStatus(o.Status) {
		return fmt.Errorf("status: %q, want %s", o.Status, statusList())
	}
	if o.DifferingCount < 0 {
		return fmt.Errorf("differingCount: %d, want a count", o.DifferingCount)
	}
	if o.DifferingCount < len(o.DifferingFiles) {
		return fmt.Errorf("differingCount: %d, fewer than the %d differingFiles", o.DifferingCount, len(o.DifferingFiles))
	}
	if o.Status != rebuild.Differs && (o.DifferingCount != 0 || len(o.DifferingFiles) != 0) {
		return fmt.Errorf("differingFiles: given for an output whose status is %q", o.Status)
	}
	if !verified && o.NotVerified == "" && (o.Status == rebuild.Reproduced || o.Status == rebuild.Differs) {
		return fmt.Errorf("notVerified: empty for an output of a bundle that did not verify")
	}
	switch o.Status {
	case rebuild.NotAttested:
		if o.AttestedSHA256 != "" {
			return fmt.Errorf("attestedSha256: given for an output whose status is %q", o.Status)
		}
		return checkOptionalSHA256("localSha256", o.LocalSHA256)
	case rebuild.NotBuilt:
		if err := checkOptionalSHA256("attestedSha256", o.AttestedSHA256); err != nil {
			return err
		}
		return checkOptionalSHA256("localSha256", o.LocalSHA256)
	}
	if !isSHA256Hex(o.AttestedSHA256) {
		return fmt.Errorf("attestedSha256: %q, want 64 lower-case hex digits", o.AttestedSHA256)
	}
	if !isSHA256Hex(o.LocalSHA256) {
		return fmt.Errorf("localSha256: %q, want 64 lower-case hex digits for an output that was rebuilt", o.LocalSHA256)
	}
	same := o.LocalSHA256 == o.AttestedSHA256
	if o.Status == rebuild.Reproduced && !same {
		return fmt.Errorf("status: %q, but localSha256 is not attestedSha256", o.Status)
	}
	if o.Status == rebuild.Differs && same {
		return fmt.Errorf("status: %q, but localSha256 is attestedSha256", o.Status)
	}
	return nil
}

func checkOptionalSHA256(field, s string) error {
	if s != "" && !isSHA256Hex(s) {
		return fmt.Errorf("%s: %q, want 64 lower-case hex digits or nothing", field, s)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
