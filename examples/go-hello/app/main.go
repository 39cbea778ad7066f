// Command kettle-go-hello is a small Go program built inside Nix by Kettle's
// offline example, with the host's Go toolchain imported as a locked flake input.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
)

func main() {
	msg := "Hello from a Go program built by an attested Kettle build"
	if len(os.Args) > 1 {
		msg = os.Args[1]
	}
	fmt.Printf("%s\nsha256(%q) = %x\nbuilt with %s\n", msg, msg, sha256.Sum256([]byte(msg)), runtime.Version())
}
