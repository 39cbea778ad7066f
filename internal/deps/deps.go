package deps
import (
 _ "github.com/nix-community/go-nix/pkg/derivation"
 _ "github.com/nix-community/go-nix/pkg/nar"
 _ "github.com/nix-community/go-nix/pkg/nixbase32"
 _ "github.com/google/go-sev-guest/abi"
 _ "github.com/google/go-sev-guest/verify"
 _ "github.com/google/go-sev-guest/validate"
 _ "github.com/google/go-sev-guest/testing"
 _ "github.com/spf13/cobra"
 _ "github.com/in-toto/attestation/go/v1"
 _ "github.com/in-toto/attestation/go/predicates/provenance/v1"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/ulikunitz/xz"
)
