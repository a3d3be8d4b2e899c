package scenarios

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// LoadNode is [Load] for a scenario that is part of a larger file: root
// is the scenario's mapping node (a fleet file's VM entry put together
// with the fleet's network), whose nodes keep their lines in file, so
// that an error names file, the line and the scenario key. A relative
// workload.trace or calibration file is taken from file's directory.
func LoadNode(file string, root *yaml.Node, overrides []string) (*Spec, error) {
	data, err := yaml.Marshal(root)
	if err != nil {
		return nil, &Error{File: file, Line: root.Line, Err: fmt.Errorf("cannot re-encode the scenario: %v", err)}
	}
	return loadRoot(file, root, data, overrides)
}
