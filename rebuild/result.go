package rebuild

import "github.com/kettle-build/kettle/verify"

// Status is the outcome of comparing one output with what the bundle attests.
type Status string

// The outcomes of one output. Only Reproduced counts as success.
const (
	// Reproduced: the local rebuild's NAR SHA-256 equals the attested one.
	Reproduced Status = "reproduced"
	// Differs: the local rebuild's NAR SHA-256 is another; Output.DifferingFiles
	// says where, when both trees are at hand.
	Differs Status = "differs"
	// NotBuilt: no local rebuild to compare: the build failed, could not run
	// here, or the local instantiation names another output; Output.Reason
	// says which.
	NotBuilt Status = "not-built"
	// NotAttested: the bundle holds no hash to compare with (an output leaf
	// by=none:absent, or a local output the manifest does not list).
	NotAttested Status = "not-attested"
)

// Method says how the local tree of an output was obtained.
type Method string

// The methods.
const (
	// MethodBuild: the output was not valid here, and Nix built it.
	MethodBuild Method = "build"
	// MethodCheck: the output was already valid here, and Nix rebuilt it in
	// check mode (nix-store --realise --check); a rebuild that differs from
	// the valid path is kept at <path>.check.
	MethodCheck Method = "check"
	// MethodFixed: a fixed-output derivation's output, valid here: its
	// content is pinned by the hash in its .drv and checked by Nix, so it
	// is hashed, not fetched again.
	MethodFixed Method = "fixed-output"
	// MethodNone: nothing was built (see Output.Reason).
	MethodNone Method = "none"
)

// Result is what `kettle rebuild` found, as `--json` prints it. Field names
// and meanings are stable: scripts and `kettle report` read them.
//
// Digests are lower-case hex SHA-256. Outputs lists the bundle's provenance
// subjects (the top-level outputs) in the order of the provenance; with
// --deep, Deep lists every derivation of the closure and Counts counts every
// output of it.
type Result struct {
	// Bundle is the bundle path as given.
	Bundle string `json:"bundle"`
	// ProvenanceSHA256 is the SHA-256 of the bundle's provenance.json bytes.
	ProvenanceSHA256 string `json:"provenanceSha256"`
	// Verified: the bundle verified (verify.Report.OK). A bundle that does
	// not verify is rebuilt only with Options.AllowUnverified, and then
	// every output's NotVerified says why.
	Verified bool `json:"verified"`
	// NotVerifiedReason is the verifier's verdict when Verified is false.
	NotVerifiedReason string `json:"notVerifiedReason,omitempty"`
	// Verification is the full verification report.
	Verification *verify.Report `json:"verification"`

	// FlakeRef and Attribute are the build's externalParameters (what its
	// user asked for); LockedRef is the locked source URL of its
	// resolvedDependencies, and Installable what was realised here:
	// LockedRef#Attribute.
	FlakeRef    string `json:"flakeRef"`
	Attribute   string `json:"attribute"`
	LockedRef   string `json:"lockedRef"`
	Installable string `json:"installable"`
	// System is the build's system; it equals this machine's.
	System string `json:"system"`
	// Platform is the attestation platform of the evidence ("sim-snp", …),
	// BuilderID the provenance's runDetails.builder.id.
	Platform  string `json:"platform,omitempty"`
	BuilderID string `json:"builderId"`
	// ManifestVersion is the bundle's manifest version (1 or 2).
	ManifestVersion int `json:"manifestVersion"`
	// NixVersion is the version of the nix that rebuilt here.
	NixVersion string `json:"nixVersion,omitempty"`
	// Deep says whether every derivation of the closure was compared
	// (--deep) or only the top-level outputs.
	Deep bool `json:"deep"`

	// Outputs are the top-level outputs, one per provenance subject.
	Outputs []Output `json:"outputs"`
	// Closure is the bottom-up comparison of every derivation (--deep only).
	Closure *Closure `json:"closure,omitempty"`
	// Counts counts the outputs compared: Outputs, or with --deep every
	// output of Closure.
	Counts Counts `json:"counts"`
	// Keep is the directory holding the diffoscope reports, "" when none
	// was written.
	Keep string `json:"keep,omitempty"`

	// OK: the bundle verified and every output compared reproduced. The
	// command exits 0 exactly when OK.
	OK bool `json:"ok"`
	// Error, when not empty, says why the rebuild stopped before every
	// output was compared (a bundle that does not verify, another system,
	// --deep on a version 1 manifest, a locked ref that does not evaluate).
	Error string `json:"error,omitempty"`
}

// Output is one output compared.
type Output struct {
	// Name is the output name ("out", "dev", …), StorePath its store path,
	// Drv the .drv that builds it ("" when no local .drv names it).
	Name      string `json:"name"`
	StorePath string `json:"storePath"`
	Drv       string `json:"drv,omitempty"`
	// AttestedSHA256 is the NAR SHA-256 the bundle attests ("" when
	// NotAttested); AttestedBy who established it: "subject" (the
	// provenance subject), or the output leaf's authority, "kettle" or
	// "nix-db".
	AttestedSHA256 string `json:"attestedSha256,omitempty"`
	AttestedBy     string `json:"attestedBy,omitempty"`
	// LocalSHA256 is Kettle's NAR SHA-256 of the local rebuild, LocalPath
	// where that rebuild is: StorePath, or StorePath + ".check" when a
	// check-mode rebuild differed from the valid path.
	LocalSHA256 string `json:"localSha256,omitempty"`
	LocalPath   string `json:"localPath,omitempty"`
	Method      Method `json:"method"`
	Status      Status `json:"status"`
	// Reason explains a status other than Reproduced.
	Reason string `json:"reason,omitempty"`
	// NotVerified is "bundle not verified: <verdict>" when the bundle did
	// not verify and was rebuilt anyway.
	NotVerified string `json:"notVerified,omitempty"`
	// DifferingFiles are the first entries (in NAR order, by path) in which
	// the attested and local trees differ; DifferingCount counts them all.
	// Both are empty when the attested tree is not at hand (DiffUnavailable
	// says why).
	DifferingFiles  []FileDiff `json:"differingFiles,omitempty"`
	DifferingCount  int        `json:"differingCount,omitempty"`
	DiffUnavailable string     `json:"diffUnavailable,omitempty"`
	// DiffoscopeReport is the path of diffoscope's text report on the two
	// trees (--diffoscope), DiffoscopeHTML of its HTML report, and
	// DiffoscopeError why diffoscope gave none.
	DiffoscopeReport string `json:"diffoscopeReport,omitempty"`
	DiffoscopeHTML   string `json:"diffoscopeHtml,omitempty"`
	DiffoscopeError  string `json:"diffoscopeError,omitempty"`
}

// FileDiff is one entry of the output tree in which the two trees differ.
type FileDiff struct {
	// Path is relative to the output's root, "/"-separated; "." is the
	// root itself.
	Path string `json:"path"`
	// Attested and Local are the entry in each tree; nil where it is absent.
	Attested *Entry `json:"attested"`
	Local    *Entry `json:"local"`
}

// Entry is one file, directory or symbolic link of an output tree, as its
// NAR serialisation records it.
type Entry struct {
	// Type is "regular", "directory" or "symlink".
	Type string `json:"type"`
	// Size and SHA256 are a regular file's; Executable its executable bit.
	Size       int64  `json:"size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Executable bool   `json:"executable,omitempty"`
	// Target is a symbolic link's target.
	Target string `json:"target,omitempty"`
}

// Closure is the bottom-up comparison of a derivation closure (--deep).
type Closure struct {
	// Derivations in bottom-up order: every derivation after all its
	// inputs.
	Derivations []Derivation `json:"derivations"`
	// FirstDiffering lists the derivations whose outputs differ although
	// every input derivation reproduced: where reproducibility is lost.
	FirstDiffering []string `json:"firstDiffering"`
	// NotInLocalClosure lists the manifest's drv leaves that the locked ref
	// does not instantiate to here; LocalOnly the local derivations the
	// manifest has no drv leaf for. Either means the evaluation differs.
	NotInLocalClosure []string `json:"notInLocalClosure,omitempty"`
	LocalOnly         []string `json:"localOnly,omitempty"`
	// Mismatches lists disagreements between the local .drv files and the
	// manifest's output leaves: an output with no leaf, a leaf of an output
	// the .drv does not have, another store path.
	Mismatches []string `json:"mismatches,omitempty"`
}

// Derivation is one derivation of the closure, compared.
type Derivation struct {
	Drv string `json:"drv"`
	// Status is Reproduced when every output reproduced, Differs when one
	// differs, else NotBuilt or NotAttested.
	Status Status `json:"status"`
	// FirstDiffering: Status is Differs and every input derivation
	// reproduced.
	FirstDiffering bool `json:"firstDiffering"`
	// InputsNotReproduced lists the input derivations that did not
	// reproduce (they differ, or were not built or attested).
	InputsNotReproduced []string `json:"inputsNotReproduced,omitempty"`
	Outputs             []Output `json:"outputs"`
}

// Counts counts outputs by status, and with --deep derivations by where
// their difference comes from.
type Counts struct {
	Reproduced  int `json:"reproduced"`
	Differs     int `json:"differs"`
	NotBuilt    int `json:"notBuilt"`
	NotAttested int `json:"notAttested"`
	// FirstDiffering counts the derivations of Closure.FirstDiffering;
	// DiffersInputsDiffered those that differ but have an input that did
	// not reproduce (--deep only; 0 otherwise).
	FirstDiffering        int `json:"firstDiffering"`
	DiffersInputsDiffered int `json:"differsInputsDiffered"`
}
