package azsnp

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
)

// THIMURL is where an Azure VM's instance metadata service serves the VCEK
// certificate of the chip it runs on (Trusted Hardware Identity Management).
const THIMURL = "http://169.254.169.254/metadata/THIM/amd/certification"

// maxTHIMResponse bounds the THIM response read.
const maxTHIMResponse = 1 << 20

// FetchVCEK returns the DER VCEK certificate from THIM at url (THIMURL on
// Azure). It is not trusted for being fetched: verification checks it
// against AMD's root.
func FetchVCEK(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching the VCEK: %w", err)
	}
	req.Header.Set("Metadata", "true")
	rsp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the VCEK from %s: %w", url, err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(rsp.Body, maxTHIMResponse+1))
	if err != nil {
		return nil, fmt.Errorf("fetching the VCEK from %s: %w", url, err)
	}
	if rsp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the VCEK from %s: %s", url, rsp.Status)
	}
	if len(body) > maxTHIMResponse {
		return nil, fmt.Errorf("fetching the VCEK from %s: response larger than %d bytes", url, maxTHIMResponse)
	}
	var thim struct {
		VCEKCert string `json:"vcekCert"`
	}
	if err := json.Unmarshal(body, &thim); err != nil {
		return nil, fmt.Errorf("VCEK from %s: not THIM JSON: %w", url, err)
	}
	block, _ := pem.Decode([]byte(thim.VCEKCert))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("VCEK from %s: vcekCert is not a PEM certificate", url)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("VCEK from %s: vcekCert: %w", url, err)
	}
	return block.Bytes, nil
}
