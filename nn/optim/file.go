package optim

import (
	"fmt"

	"hallucinator/nn"
)

// Save writes the state of o to path as a safetensors file (atomically),
// with string metadata (may be nil).
func Save(path string, o Optimizer, meta map[string]string) error {
	return nn.WriteSafetensors(path, o.State(), meta)
}

// Load restores the state of o from a file written by Save and returns its
// metadata.
func Load(path string, o Optimizer) (map[string]string, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if err := o.LoadState(ts); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return meta, nil
}
