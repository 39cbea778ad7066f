package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// MaxResultsFile bounds a saved results file: a result is a few KiB (its
// differing files are bounded by the rebuild), so 64 MiB holds thousands.
const MaxResultsFile = 64 << 20

// ReadResults reads a file of saved `kettle rebuild --json` output: one
// result object, or an array of them.
func ReadResults(path string) ([]Result, error) {
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
func ReadResultsFrom(r io.Reader, name string) ([]Result, error) {
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

// DecodeResults decodes saved results strictly: one JSON value (an object,
// or a non-empty array of objects), no unknown or duplicate field, and
// every result consistent with itself (see checkResult). Errors name the
// field, as in "[1].outputs[0].status".
func DecodeResults(data []byte) ([]Result, error) {
	var results []Result
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := strictjson.Unmarshal(data, &results); err != nil {
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
	var r Result
	if err := strictjson.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if err := checkResult(&r); err != nil {
		return nil, err
	}
	return []Result{r}, nil
}

// checkResult refuses a result that no rebuild would have written.
func checkResult(r *Result) error {
	if r.Bundle == "" {
		return errors.New("bundle: empty, want the bundle's path")
	}
	if !isSHA256Hex(r.ProvenanceSHA256) {
		return fmt.Errorf("provenanceSha256: %q, want 64 lower-case hex digits", r.ProvenanceSHA256)
	}
	if !r.Verified && r.Reason == "" {
		return errors.New("reason: empty for a bundle that did not verify, want why")
	}
	var tally ResultCounts
	for i := range r.Outputs {
		o := &r.Outputs[i]
		if err := checkOutput(o, r.Verified); err != nil {
			return fmt.Errorf("outputs[%d].%w", i, err)
		}
		switch Status(o.Status) {
		case Reproduced:
			tally.Reproduced++
		case Differs:
			tally.Differs++
		case NotBuilt:
			tally.NotBuilt++
		}
	}
	if tally != r.Counts {
		return fmt.Errorf("counts: %+v, but the outputs are %+v", r.Counts, tally)
	}
	return nil
}

func checkOutput(o *OutputResult, verified bool) error {
	if o.Name == "" {
		return errors.New("name: empty, want the output's name")
	}
	if o.StorePath == "" {
		return errors.New("storePath: empty, want the output's store path")
	}
	if o.DifferingCount < 0 {
		return fmt.Errorf("differingCount: %d, want a count", o.DifferingCount)
	}
	if o.DifferingCount < len(o.DifferingFiles) {
		return fmt.Errorf("differingCount: %d, fewer than the %d differingFiles", o.DifferingCount, len(o.DifferingFiles))
	}
	switch Status(o.Status) {
	case Reproduced, Differs:
		if !verified {
			return fmt.Errorf("status: %q for an output of a bundle that did not verify, want %q", o.Status, NotBuilt)
		}
		if !isSHA256Hex(o.AttestedSHA256) {
			return fmt.Errorf("attestedSha256: %q, want 64 lower-case hex digits", o.AttestedSHA256)
		}
		if !isSHA256Hex(o.LocalSHA256) {
			return fmt.Errorf("localSha256: %q, want 64 lower-case hex digits for an output that was rebuilt", o.LocalSHA256)
		}
		same := o.LocalSHA256 == o.AttestedSHA256
		if Status(o.Status) == Reproduced && !same {
			return fmt.Errorf("status: %q, but localSha256 is not attestedSha256", o.Status)
		}
		if Status(o.Status) == Differs && same {
			return fmt.Errorf("status: %q, but localSha256 is attestedSha256", o.Status)
		}
	case NotBuilt:
	default:
		return fmt.Errorf("status: %q, want %q, %q or %q", o.Status, Reproduced, Differs, NotBuilt)
	}
	if Status(o.Status) != Differs && (o.DifferingCount != 0 || len(o.DifferingFiles) != 0) {
		return fmt.Errorf("differingFiles: given for an output whose status is %q", o.Status)
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
