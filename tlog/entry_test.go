package tlog

import (
	"bytes"
	"strings"
	"testing"
)

const (
	hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hexB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hexC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	hexD = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
)

// goodEntry is a verified entry's text.
var goodEntry = EntryHeader + "\n" +
	"provenance-sha256 " + hexA + "\n" +
	"bundle-sha256 " + hexB + "\n" +
	"manifest-root " + hexC + "\n" +
	"platform sim-snp\n" +
	"verified yes\n" +
	"subject /nix/store/0c9ck2k4hcjsvs1bkmc7nwhs0l9rdz3h-hello " + hexD + "\n"

// unverifiedEntry is an unverified entry's text with unknown fields.
var unverifiedEntry = EntryHeader + "\n" +
	"provenance-sha256 " + hexA + "\n" +
	"bundle-sha256 " + hexB + "\n" +
	"manifest-root -\n" +
	"platform -\n" +
	"verified no: FAILED at chain: the report's signature does not verify\n"

func TestEntryRoundTrip(t *testing.T) {
	for _, text := range []string{goodEntry, unverifiedEntry} {
		e, err := ParseEntry([]byte(text))
		if err != nil {
			t.Fatalf("ParseEntry:\n%s\n%v", text, err)
		}
		got, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != text {
			t.Errorf("Marshal(ParseEntry(x)) =\n%s\nwant\n%s", got, text)
		}
	}
	e, _ := ParseEntry([]byte(goodEntry))
	if !e.Verified || e.Platform != "sim-snp" || e.ManifestRoot == nil || len(e.Subjects) != 1 || e.Subjects[0].Name != "/nix/store/0c9ck2k4hcjsvs1bkmc7nwhs0l9rdz3h-hello" {
		t.Errorf("parsed %+v", e)
	}
	u, _ := ParseEntry([]byte(unverifiedEntry))
	if u.Verified || u.ManifestRoot != nil || u.Platform != Unknown || u.Reason != "FAILED at chain: the report's signature does not verify" {
		t.Errorf("parsed %+v", u)
	}
}

// TestParseEntryBadInput: every departure from the format is refused with
// an error naming the line or the field.
func TestParseEntryBadInput(t *testing.T) {
	repl := func(old, new string) string { return strings.Replace(goodEntry, old, new, 1) }
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "does not end in a newline"},
		{"no final newline", strings.TrimSuffix(goodEntry, "\n"), "does not end in a newline"},
		{"CRLF", strings.ReplaceAll(goodEntry, "\n", "\r\n"), "line 1"},
		{"other version", repl("/v1", "/v2"), "line 1: want"},
		{"no header", strings.TrimPrefix(goodEntry, EntryHeader+"\n"), "line 1: want"},
		{"upper-case hex", repl("provenance-sha256 "+hexA, "provenance-sha256 "+strings.ToUpper(hexA)), "line 2: provenance-sha256: want 64 lower-case hex"},
		{"short digest", repl(hexB, hexB[:63]), "line 3: bundle-sha256"},
		{"non-hex digest", repl(hexB, "g"+hexB[1:]), "line 3: bundle-sha256"},
		{"fields swapped", repl("provenance-sha256 "+hexA+"\nbundle-sha256 "+hexB, "bundle-sha256 "+hexB+"\nprovenance-sha256 "+hexA), "line 2: want \"provenance-sha256"},
		{"missing field", repl("platform sim-snp\n", ""), "line 5: want \"platform"},
		{"double space", repl("platform sim-snp", "platform  sim-snp"), "line 5: platform: empty, or with leading or trailing white space"},
		{"trailing space", repl("verified yes", "verified yes "), "line 6: verified"},
		{"tab", repl("platform sim-snp", "platform\tsim-snp"), "line 5: want"},
		{"bad platform", repl("platform sim-snp", "platform SIM"), "line 5: platform"},
		{"long platform", repl("platform sim-snp", "platform "+strings.Repeat("a", 33)), "line 5: platform"},
		{"bad manifest root", repl("manifest-root "+hexC, "manifest-root none"), "line 4: manifest-root"},
		{"verified maybe", repl("verified yes", "verified maybe"), `line 6: verified: want "yes" or "no: <reason>"`},
		{"no reason", repl("verified yes", "verified no:"), "line 6: verified"},
		{"empty reason", repl("verified yes", "verified no: "), "line 6: verified"},
		{"reason with control", repl("verified yes", "verified no: a\x01b"), "control character"},
		{"long reason", repl("verified yes", "verified no: "+strings.Repeat("x", MaxReasonLen+1)), "more than 1024"},
		{"empty line", repl("verified yes\n", "verified yes\n\n"), "line 7: want \"subject"},
		{"unknown line", goodEntry + "builder x\n", "line 8: want \"subject"},
		{"subject without digest", repl(" "+hexD, ""), "line 7: subject: want"},
		{"subject with three fields", repl(" "+hexD, " x "+hexD), "line 7: subject: want"},
		{"subject bad digest", repl(" "+hexD, " "+hexD[:10]), "line 7: subject /nix/store/"},
		{"subject non-ASCII", repl("-hello", "-héllo"), "line 7: subject: name"},
		{"verified without subjects", strings.TrimSuffix(goodEntry, "subject /nix/store/0c9ck2k4hcjsvs1bkmc7nwhs0l9rdz3h-hello "+hexD+"\n"), "verified, but it has no subject"},
		{"verified, root unknown", repl("manifest-root "+hexC, "manifest-root -"), "verified, but its manifest-root is unknown"},
		{"verified, platform unknown", repl("platform sim-snp", "platform -"), "verified, but its platform is unknown"},
		{"not UTF-8", repl("-hello", "-\xff"), "not valid UTF-8"},
		{"too large", goodEntry + strings.Repeat("subject x "+hexD+"\n", MaxEntrySize/70), "more than the limit"},
		{"too many subjects", goodEntry + strings.Repeat("subject x "+hexD+"\n", MaxSubjects), "more than 256 subjects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEntry([]byte(tc.text))
			if err == nil {
				t.Fatalf("ParseEntry accepted:\n%q", tc.text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMarshalRefusesWhatParseRefuses(t *testing.T) {
	e, err := ParseEntry([]byte(goodEntry))
	if err != nil {
		t.Fatal(err)
	}
	e.Subjects = append(e.Subjects, Subject{Name: "has space"})
	if _, err := e.Marshal(); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Errorf("Marshal of a subject with a space: %v", err)
	}
	e, _ = ParseEntry([]byte(unverifiedEntry))
	e.Reason = ""
	if _, err := e.Marshal(); err == nil {
		t.Error("Marshal of an unverified entry without a reason succeeded")
	}
}

func TestReasonLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "no reason given",
		"a\nb\tc  d":            "a b c d",
		"  lead and trail \n":   "lead and trail",
		"ctl\x00\x7f\u0085here": "ctl here",
	} {
		if got := reasonLine(in); got != want {
			t.Errorf("reasonLine(%q) = %q, want %q", in, got, want)
		}
	}
	long := reasonLine(strings.Repeat("é", MaxReasonLen))
	if len(long) > MaxReasonLen || !strings.HasSuffix(long, "…") || checkReason(long) != nil {
		t.Errorf("a long reason: %d bytes, %v", len(long), checkReason(long))
	}
}

// FuzzParseEntry: an accepted entry marshals back to the same bytes, and
// keeps the format's rules.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(goodEntry))
	f.Add([]byte(unverifiedEntry))
	f.Add([]byte(EntryHeader + "\n"))
	f.Add([]byte(strings.Replace(goodEntry, "verified yes", "verified no: x", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed entry: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("Marshal(ParseEntry(%q)) = %q", data, out)
		}
		if e.Verified && (e.ManifestRoot == nil || e.Platform == Unknown || len(e.Subjects) == 0) {
			t.Fatalf("a verified entry with unknown fields: %+v", e)
		}
		if !e.Verified && checkReason(e.Reason) != nil {
			t.Fatalf("reason %q", e.Reason)
		}
	})
}
