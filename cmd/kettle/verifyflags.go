package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/cvm/image"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/verify"
)

// verifyFlags are the flags that say what the verifier expects of a bundle:
// `kettle verify` takes them, and so does every command that verifies a
// bundle before it uses it.
type verifyFlags struct {
	nonceHex, measurementHex, policyFile, collateralDir, imageDir string
	useStore, deepHash, allowSim, allowUnattested, strict         bool
}

func (v *verifyFlags) register(f *pflag.FlagSet) {
	f.StringVar(&v.nonceHex, "nonce", "", "expected nonce, hex: 32 bytes (report_data[32:64]) for Kettle's bundles, 16 for the foreign tool's (a UUID's dashes allowed)")
	f.BoolVar(&v.strict, "strict", false, "fail on every warning (a foreign provenance field the in-toto library refuses, a file no subject names)")
	f.StringVar(&v.measurementHex, "measurement", "", "expected launch measurement, hex (48 bytes)")
	f.StringVar(&v.imageDir, "image", "", "a Kettle CVM image directory (or its measurement.json): the launch measurement must be one of its VM shapes'")
	f.BoolVar(&v.useStore, "store", false, "re-hash the subjects from the local Nix store instead of artifacts/")
	f.BoolVar(&v.deepHash, "deep-hash", false, "with --store: re-hash every output leaf of a version 2 manifest in the local store, not only the subjects")
	f.BoolVar(&v.allowSim, "allow-simulated", false, "accept evidence signed by Kettle's TEST-ONLY key chains (sim-snp, sim-tdx)")
	f.BoolVar(&v.allowUnattested, "allow-unattested", false, "accept a bundle built with --attest none (reported as UNATTESTED)")
	f.StringVar(&v.policyFile, "policy", "", "verification policy file, JSON or YAML (minimum TCB/SVNs, allowed measurements, HOST_DATA/MRCONFIGID, VMPL)")
	f.StringVar(&v.collateralDir, "collateral", "", "directory of collateral replacing the evidence's: crl.der (AMD), tcb_info.json, qe_identity.json, ... (Intel)")
}

// options reads the files the flags name and returns the verifier's
// options for bundle; a bad flag or file is a usage error.
func (v *verifyFlags) options(bundle string) (verify.Options, error) {
	opts := verify.Options{Bundle: bundle, AllowSimulated: v.allowSim, AllowUnattested: v.allowUnattested, Strict: v.strict, DeepHash: v.deepHash}
	if v.deepHash && !v.useStore {
		return opts, usageError(errors.New("--deep-hash: only with --store (it re-hashes every output leaf's path in the local store)"))
	}
	if v.useStore {
		opts.Store = storeHasher{}
	}
	if v.policyFile != "" {
		data, err := inputfile.Read(v.policyFile, maxPolicyFile)
		if err != nil {
			return opts, &exitError{2, fmt.Errorf("--policy: %w", err)}
		}
		if opts.Policy, err = attest.ParsePolicy(data); err != nil {
			return opts, &exitError{2, fmt.Errorf("--policy %s: %w", v.policyFile, err)}
		}
	}
	if v.collateralDir != "" {
		col, err := attest.ReadCollateralDir(v.collateralDir)
		if err != nil {
			return opts, &exitError{2, fmt.Errorf("--collateral: %w", err)}
		}
		opts.Collateral = col
	}
	if v.nonceHex != "" {
		n, err := parseNonce(v.nonceHex)
		if err != nil {
			return opts, &exitError{2, err}
		}
		opts.Nonce = n
	}
	imageDir := v.imageDir
	if imageDir == "" && opts.Policy != nil && opts.Policy.Image != "" {
		// A policy names an image relative to its own file.
		imageDir = opts.Policy.Image
		if !filepath.IsAbs(imageDir) {
			imageDir = filepath.Join(filepath.Dir(v.policyFile), imageDir)
		}
	}
	if imageDir != "" {
		m, err := image.ReadMeasurements(imageDir)
		if err != nil {
			return opts, usageError(fmt.Errorf("--image: %w", err))
		}
		opts.Image = m
	}
	if v.measurementHex != "" {
		b, err := parseHexN("measurement", v.measurementHex, 48)
		if err != nil {
			return opts, &exitError{2, err}
		}
		opts.Measurement = b
	}
	return opts, nil
}
