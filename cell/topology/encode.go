package topology

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Encode is spec as a topology file, the YAML form Parse reads (durations
// and slot ranges in their text form). It does not validate: Parse of the
// result reports what is wrong with spec.
func Encode(spec Spec) ([]byte, error) {
	data, err := yaml.Marshal(fileOf(spec))
	if err != nil {
		return nil, fmt.Errorf("topology: encode: %w", err)
	}
	return data, nil
}
