package report

// Result is what `kettle rebuild` found for one bundle. It mirrors the
// rebuild package's result until that package lands on this branch.
type Result struct {
	Bundle           string         `json:"bundle"`
	ProvenanceSHA256 string         `json:"provenanceSha256"`
	Verified         bool           `json:"verified"`
	Reason           string         `json:"reason,omitempty"`
	FlakeRef         string         `json:"flakeRef"`
	Attribute        string         `json:"attribute"`
	System           string         `json:"system"`
	Platform         string         `json:"platform"`
	BuilderID        string         `json:"builderId"`
	Outputs          []OutputResult `json:"outputs"`
	Deep             *DeepResult    `json:"deep,omitempty"`
	Counts           ResultCounts   `json:"counts"`
}

// OutputResult is one output of a rebuilt bundle.
type OutputResult struct {
	Name           string   `json:"name"`
	StorePath      string   `json:"storePath"`
	Drv            string   `json:"drv"`
	AttestedSHA256 string   `json:"attestedSha256"`
	LocalSHA256    string   `json:"localSha256,omitempty"`
	Status         string   `json:"status"`
	Reason         string   `json:"reason,omitempty"`
	DifferingFiles []string `json:"differingFiles,omitempty"`
	DifferingCount int      `json:"differingCount,omitempty"`
}

// DeepResult is what a deep rebuild found over every derivation.
type DeepResult struct {
	Derivations    int    `json:"derivations"`
	FirstDiffering string `json:"firstDiffering,omitempty"`
}

// ResultCounts counts a result's outputs by status.
type ResultCounts struct {
	Reproduced int `json:"reproduced"`
	Differs    int `json:"differs"`
	NotBuilt   int `json:"notBuilt"`
}
