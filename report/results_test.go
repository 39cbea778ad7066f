package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/rebuild"
)

func marshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeResults(t *testing.T) {
	in := sample()
	var results []rebuild.Result
	for _, i := range in {
		results = append(results, i.Result)
	}
	got, err := DecodeResults([]byte(marshal(t, results)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, results) {
		t.Errorf("an array of results does not read back:\n got %+v\nwant %+v", got, results)
	}
	one, err := DecodeResults([]byte(" \n" + marshal(t, results[0]) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, results[:1]) {
		t.Errorf("one result does not read back: %+v", one)
	}
	// Results one after the other, as `kettle rebuild --json` appends
	// them, and arrays among them.
	stream := marshal(t, results[0]) + "\n" + marshal(t, results[1:3]) + marshal(t, results[3]) + "\n\n"
	got, err = DecodeResults([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, results[:4]) {
		t.Errorf("a stream of results does not read back: %+v", got)
	}
}

// edit returns a sample result's JSON with one change made to it.
func edit(t *testing.T, change func(*rebuild.Result)) string {
	t.Helper()
	r := result("a.tar", "sev-snp", out("out", helloPath, rebuild.Differs, "bin/hello"), out("doc", docPath, rebuild.Reproduced))
	change(&r)
	return marshal(t, r)
}

func TestDecodeResultsBad(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", ``, "empty"},
		{"not JSON", `bundle a.tar`, "not JSON"},
		{"a number", `42`, "cannot unmarshal number"},
		{"empty array", `[]`, "an empty array"},
		{"array of non-objects", `[1]`, "cannot unmarshal number"},
		{"trailing data", edit(t, func(*rebuild.Result) {}) + `x`, "value 2: not JSON: invalid character 'x'"},
		{"a bad second value", edit(t, func(*rebuild.Result) {}) + "\n" + `{"bundle":1}`, "value 2: json: cannot unmarshal number"},
		{"a truncated value", edit(t, func(*rebuild.Result) {})[:40], "value 1: not JSON: unexpected EOF"},
		{"white space only", " \n\t", "empty, want one or more results"},
		{"duplicate key", `{"bundle":"a","bundle":"b"}`, "bundle: duplicate key"},
		{"unknown field", strings.Replace(edit(t, func(*rebuild.Result) {}), `{`, `{"verdict":"ok",`, 1), `unknown field "verdict"`},
		{"invalid UTF-8", "{\"bundle\":\"\xff\"}", "not valid UTF-8"},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper"},
		{"wrong type", strings.Replace(edit(t, func(*rebuild.Result) {}), `"verified":true`, `"verified":"yes"`, 1), "cannot unmarshal string"},
		{"no bundle", edit(t, func(r *rebuild.Result) { r.Bundle = "" }), "bundle: empty"},
		{"no provenance digest", edit(t, func(r *rebuild.Result) { r.ProvenanceSHA256 = "" }), "provenanceSha256: empty, want 64"},
		{"no provenance digest but outputs", edit(t, func(r *rebuild.Result) { r.ProvenanceSHA256, r.Error, r.OK = "", "stopped", false }), "provenanceSha256: empty for a rebuild that compared outputs"},
		{"short provenance digest", edit(t, func(r *rebuild.Result) { r.ProvenanceSHA256 = "abcd" }), `provenanceSha256: "abcd"`},
		{"upper-case provenance digest", edit(t, func(r *rebuild.Result) { r.ProvenanceSHA256 = strings.ToUpper(r.ProvenanceSHA256) }), "lower-case hex"},
		{"unverified without reason", edit(t, func(r *rebuild.Result) { r.Verified = false; r.OK = false }), "notVerifiedReason: empty"},
		{"verified with a reason", edit(t, func(r *rebuild.Result) { r.NotVerifiedReason = "chain" }), "notVerifiedReason: given"},
		{"unverified but ok", edit(t, func(r *rebuild.Result) { r.Verified = false; r.NotVerifiedReason = "chain"; r.OK = true }), "ok: true"},
		{"ok with a difference", edit(t, func(r *rebuild.Result) { r.OK = true }), `outputs[0].status: "differs" in a result that is ok`},
		{"compared without saying unverified", edit(t, func(r *rebuild.Result) { r.Verified = false; r.NotVerifiedReason = "chain" }), `outputs[0].notVerified: empty`},
		{"unknown status", edit(t, func(r *rebuild.Result) { r.Outputs[1].Status = "same" }), `outputs[1].status: "same", want`},
		{"not attested with a hash", edit(t, func(r *rebuild.Result) {
			r.Outputs[1].Status = rebuild.NotAttested
			r.Counts.Reproduced--
			r.Counts.NotAttested++
		}), `outputs[1].attestedSha256: given`},
		{"not built with a bad hash", edit(t, func(r *rebuild.Result) {
			r.Outputs[1].Status = rebuild.NotBuilt
			r.Outputs[1].LocalSHA256 = "x"
			r.Counts.Reproduced--
			r.Counts.NotBuilt++
		}), `outputs[1].localSha256: "x"`},
		{"no output name", edit(t, func(r *rebuild.Result) { r.Outputs[0].Name = "" }), "outputs[0].name: empty"},
		{"no store path", edit(t, func(r *rebuild.Result) { r.Outputs[0].StorePath = "" }), "outputs[0].storePath: empty"},
		{"reproduced with another hash", edit(t, func(r *rebuild.Result) { r.Outputs[1].LocalSHA256 = hexOf("x") }), `outputs[1].status: "reproduced", but localSha256 is not attestedSha256`},
		{"differs with the same hash", edit(t, func(r *rebuild.Result) { r.Outputs[0].LocalSHA256 = r.Outputs[0].AttestedSHA256 }), `outputs[0].status: "differs", but localSha256 is attestedSha256`},
		{"rebuilt without a local hash", edit(t, func(r *rebuild.Result) { r.Outputs[0].LocalSHA256 = "" }), "outputs[0].localSha256"},
		{"bad attested hash", edit(t, func(r *rebuild.Result) { r.Outputs[0].AttestedSHA256 = "z" }), "outputs[0].attestedSha256"},
		{"fewer counted than listed", edit(t, func(r *rebuild.Result) { r.Outputs[0].DifferingCount = 0 }), "outputs[0].differingCount: 0, fewer than the 1"},
		{"negative count", edit(t, func(r *rebuild.Result) { r.Outputs[0].DifferingFiles = nil; r.Outputs[0].DifferingCount = -1 }), "differingCount: -1"},
		{"differing files of a reproduced output", edit(t, func(r *rebuild.Result) {
			r.Outputs[1].DifferingFiles = []rebuild.FileDiff{{Path: "x"}}
			r.Outputs[1].DifferingCount = 1
		}), `outputs[1].differingFiles: given for an output whose status is "reproduced"`},
		{"counts that disagree", edit(t, func(r *rebuild.Result) { r.Counts.Reproduced = 2 }), "counts:"},
		{"closure without deep", edit(t, func(r *rebuild.Result) { r.Closure = &rebuild.Closure{} }), "closure: given for a rebuild that was not deep"},
		{"closure derivation without drv", edit(t, func(r *rebuild.Result) {
			r.Deep, r.Closure = true, &rebuild.Closure{Derivations: []rebuild.Derivation{{Status: rebuild.Reproduced}}}
		}), "closure.derivations[0].drv: empty"},
		{"closure derivation status", edit(t, func(r *rebuild.Result) {
			r.Deep, r.Closure = true, &rebuild.Closure{Derivations: []rebuild.Derivation{{Drv: "d", Status: "x"}}}
		}), `closure.derivations[0].status: "x"`},
		{"first differing that does not differ", edit(t, func(r *rebuild.Result) {
			r.Deep, r.Closure = true, &rebuild.Closure{Derivations: []rebuild.Derivation{{Drv: "d", Status: rebuild.Reproduced, FirstDiffering: true}}}
		}), "closure.derivations[0].firstDiffering: true for a derivation whose status"},
		{"first differing list disagrees", edit(t, func(r *rebuild.Result) { r.Deep, r.Closure = true, &rebuild.Closure{FirstDiffering: []string{"d"}} }), "closure.firstDiffering: 1 derivations, but 0"},
		{"bad closure output", edit(t, func(r *rebuild.Result) {
			r.Deep, r.Closure = true, &rebuild.Closure{Derivations: []rebuild.Derivation{{Drv: "d", Status: rebuild.Reproduced, Outputs: []rebuild.Output{{Name: "out"}}}}}
		}), "closure.derivations[0].outputs[0].storePath: empty"},
		{"deep counts are the closure's", edit(t, func(r *rebuild.Result) { r.Deep, r.Closure = true, &rebuild.Closure{} }), "counts: 1 reproduced, 1 differ, 0 not built, 0 not attested, but the outputs compared are 0, 0, 0 and 0"},
		{"bad element of an array", "[" + edit(t, func(*rebuild.Result) {}) + "," + edit(t, func(r *rebuild.Result) { r.Bundle = "" }) + "]", "[1].bundle: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResults([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadResultsBad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(edit(t, func(*rebuild.Result) {})), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResults(good); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"bundle":1}`), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(MaxResultsFile + 1) // sparse
	f.Close()
	for _, tc := range []struct {
		name, path string
		check      func(error) bool
	}{
		{"missing", filepath.Join(dir, "missing.json"), func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{"directory", dir, func(err error) bool { var te *inputfile.TypeError; return errors.As(err, &te) }},
		{"FIFO", fifo, func(err error) bool { var te *inputfile.TypeError; return errors.As(err, &te) }},
		{"device", "/dev/zero", func(err error) bool { var te *inputfile.TypeError; return errors.As(err, &te) }},
		{"too large", big, func(err error) bool { var le *inputfile.LimitError; return errors.As(err, &le) }},
		{"bad content names the file", bad, func(err error) bool { return strings.HasPrefix(err.Error(), bad+": ") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadResults(tc.path)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("err = %v, want the right kind of error naming %s", err, tc.path)
			}
		})
	}
}

func TestReadResultsFrom(t *testing.T) {
	if _, err := ReadResultsFrom(strings.NewReader(edit(t, func(*rebuild.Result) {})), "standard input"); err != nil {
		t.Fatal(err)
	}
	_, err := ReadResultsFrom(strings.NewReader(strings.Repeat(" ", MaxResultsFile+1)), "standard input")
	if err == nil || !strings.Contains(err.Error(), "standard input: larger than the limit") {
		t.Fatalf("err = %v, want the limit named", err)
	}
	_, err = ReadResultsFrom(strings.NewReader(`{"bundle":""}`), "standard input")
	if err == nil || !strings.HasPrefix(err.Error(), "standard input: ") {
		t.Fatalf("err = %v, want the source named", err)
	}
}

// FuzzDecodeResults: what DecodeResults accepts is consistent with itself,
// makes a report, and reads back the same after encoding.
func FuzzDecodeResults(f *testing.F) {
	r := result("a.tar", "sev-snp", out("out", helloPath, rebuild.Differs, "bin/hello"), out("doc", docPath, rebuild.Reproduced))
	f.Add([]byte(marshal(f, r)))
	f.Add([]byte(marshal(f, []rebuild.Result{r, unverified("b.tar", "tdx", "chain: bad")})))
	f.Add([]byte(marshal(f, result("c.tar", "", out("out", toolPath, rebuild.NotBuilt)))))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"bundle":"a","bundle":"b"}`))
	deep := result("d.tar", "tdx", out("out", helloPath, rebuild.Differs, "bin/hello"))
	deep.Deep = true
	deep.Closure = &rebuild.Closure{
		Derivations: []rebuild.Derivation{
			{Drv: toolPath + ".drv", Status: rebuild.Differs, FirstDiffering: true, Outputs: []rebuild.Output{out("out", toolPath, rebuild.Differs, "bin/tool")}},
			{Drv: helloPath + ".drv", Status: rebuild.Differs, InputsNotReproduced: []string{toolPath + ".drv"}, Outputs: []rebuild.Output{deep.Outputs[0]}},
		},
		FirstDiffering: []string{toolPath + ".drv"},
	}
	deep.Counts = rebuild.Counts{Differs: 2, FirstDiffering: 1, DiffersInputsDiffered: 1}
	f.Add([]byte(marshal(f, deep)))
	f.Add([]byte(`{"bundle":"x","provenanceSha256":"` + hexOf("x") + `","verified":false,"notVerifiedReason":"r","outputs":null,"counts":{"reproduced":0,"differs":0,"notBuilt":0,"notAttested":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		results, err := DecodeResults(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(results) == 0 {
			t.Fatal("accepted no result")
		}
		again, err := DecodeResults([]byte(marshal(t, results)))
		if err != nil {
			t.Fatalf("re-encoded results do not decode: %v", err)
		}
		if !reflect.DeepEqual(again, results) {
			t.Fatalf("re-encoded results read back otherwise:\n%+v\n%+v", again, results)
		}
		inputs := make([]Input, len(results))
		for i, r := range results {
			inputs[i].Result = r
		}
		rep, err := Build(inputs, Options{Inputs: true})
		if err != nil {
			return // the same bundle twice
		}
		if rep.Bundles.Total() != len(results) {
			t.Fatalf("%d results, %d bundles counted", len(results), rep.Bundles.Total())
		}
		if _, err := HTML(rep); err != nil {
			t.Fatal(err)
		}
	})
}
