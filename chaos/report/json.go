package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// jsonRun is what WriteJSON encodes: the verdict for scripts, then the Run.
// Decoding the output into a Run ignores "pass", which Run.Pass recomputes.
type jsonRun struct {
	Pass bool `json:"pass"`
	Run
}

// WriteJSON writes r as indented JSON with stable snake_case field names,
// preceded by a derived "pass" field (Run.Pass). Decoding the output into a
// Run gives r back.
func WriteJSON(w io.Writer, r Run) error {
	data, err := json.MarshalIndent(jsonRun{Pass: r.Pass(), Run: r}, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode json: %w", err)
	}
	data = append(data, '\n')
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("report: write json: %w", err)
	}
	return nil
}
