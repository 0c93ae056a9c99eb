package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	demoFile    = "../../deploy/topologies/demo.yaml"
	minimalFile = "../../deploy/topologies/minimal.yaml"
	localFile   = "../../deploy/topologies/local.yaml"
)

func TestValidateDeployFiles(t *testing.T) {
	for _, tt := range []struct{ path, env string }{{demoFile, "demo"}, {minimalFile, "test"}, {localFile, "local"}} {
		for _, args := range [][]string{{tt.path}, {tt.path, "--env", tt.env}} {
			code, stdout, stderr := runCLI(t, append([]string{"topology", "validate"}, args...)...)
			if code != exitOK || stderr != "" {
				t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", args, code, stderr)
			}
			if !strings.Contains(stdout, "is valid") || !strings.Contains(stdout, "environment  "+tt.env) ||
				!strings.Contains(stdout, "4096 of 4096 owned") {
				t.Errorf("%v: summary lacks validity, environment or coverage:\n%s", args, stdout)
			}
		}
	}
}

func TestValidateGolden(t *testing.T) {
	for _, tt := range []struct{ path, format, golden string }{
		{demoFile, "table", "validate-demo.table"},
		{demoFile, "json", "validate-demo.json"},
		{minimalFile, "table", "validate-minimal.table"},
	} {
		code, stdout, stderr := runCLI(t, "topology", "validate", tt.path, "-o", tt.format)
		if code != exitOK || stderr != "" {
			t.Fatalf("%s -o %s: exit %d, stderr %q", tt.path, tt.format, code, stderr)
		}
		checkGolden(t, tt.golden, stdout)
	}
}

// validateJSON is what scripts read from -o json.
type validateJSON struct {
	File       string `json:"file"`
	Valid      bool   `json:"valid"`
	Violations []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"violations"`
	Environment string `json:"environment"`
	Sites       []struct {
		ID         string   `json:"id"`
		Region     string   `json:"region"`
		Nodes      []string `json:"nodes"`
		CellsHomed int      `json:"cells_homed"`
		Replicas   int      `json:"replicas"`
	} `json:"sites"`
	Nodes int `json:"nodes"`
	Cells int `json:"cells"`
	Slots struct {
		Total          int `json:"total"`
		Owned          int `json:"owned"`
		PerCellSlotMin int `json:"per_cell_min"`
		PerCellSlotMax int `json:"per_cell_max"`
	} `json:"slots"`
}

func decodeJSON(t *testing.T, stdout string) validateJSON {
	t.Helper()
	var report validateJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("-o json output does not parse: %v\n%s", err, stdout)
	}
	return report
}

func TestValidateJSON(t *testing.T) {
	code, stdout, _ := runCLI(t, "topology", "validate", demoFile, "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	report := decodeJSON(t, stdout)
	if !report.Valid || report.Environment != "demo" || len(report.Sites) != 3 || report.Nodes != 6 || report.Cells != 12 ||
		report.Slots.Owned != 4096 || report.Slots.PerCellSlotMin != 341 || report.Slots.PerCellSlotMax != 342 || report.Sites[2].ID != "sh-a" || report.Sites[2].Region != "shanghai" ||
		len(report.Sites[2].Nodes) != 2 || report.Sites[2].CellsHomed != 4 {
		t.Errorf("report = %+v", report)
	}
}

// broken has violations in every section and a decodable shape.
const broken = `environment: test
sites:
  - {id: hz-a, region: hangzhou}
  - {id: hz-b, region: hangzhou}
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
nodes:
  - {id: hz-a-1, site: hz-a, raft_addr: 127.0.0.1:7101, client_addr: 127.0.0.1:7201}
  - {id: hz-b-1, site: hz-c, raft_addr: 127.0.0.1:7102, client_addr: 127.0.0.1:7201}
cells:
  - {id: 1, home: hz-a, replicas: [hz-a-1, hz-b-1], slots: ["0-4000"]}
`

var brokenViolations = []string{
	`topology: nodes[1].site: unknown site "hz-c"`,
	`topology: nodes[1].client_addr: "127.0.0.1:7201" is already used by nodes[0].client_addr`,
	`topology: cells[0].replicas: has 2 replicas, want 3 or 5`,
	`topology: slots: slots 4001-4095 are owned by no cell`,
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateBrokenFile(t *testing.T) {
	path := writeFile(t, broken)
	code, stdout, stderr := runCLI(t, "topology", "validate", path)
	if code != exitInvalidConfig {
		t.Errorf("exit %d, want %d", code, exitInvalidConfig)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	want := "cellpay: topology file " + path + " is invalid (4 violations):\n" + strings.Join(brokenViolations, "\n") + "\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

func TestValidateBrokenFileJSON(t *testing.T) {
	path := writeFile(t, broken)
	code, stdout, stderr := runCLI(t, "topology", "validate", "-o", "json", path)
	if code != exitInvalidConfig {
		t.Errorf("exit %d, want %d", code, exitInvalidConfig)
	}
	report := decodeJSON(t, stdout)
	if report.Valid || report.File != path || len(report.Violations) != len(brokenViolations) {
		t.Fatalf("report = %+v", report)
	}
	for i, v := range report.Violations {
		if got := "topology: " + v.Path + ": " + v.Message; got != brokenViolations[i] {
			t.Errorf("violation %d = %q, want %q", i, got, brokenViolations[i])
		}
	}
	if stderr != "cellpay: topology file "+path+" is invalid (4 violations)\n" {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestValidateUndecodableFile(t *testing.T) {
	path := writeFile(t, "environment: test\nsite:\n  - {id: hz-a}\n")
	code, stdout, stderr := runCLI(t, "topology", "validate", path)
	if code != exitInvalidConfig || stdout != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitInvalidConfig)
	}
	if !strings.Contains(stderr, `topology: line 2: unknown field "site" in a topology`) {
		t.Errorf("stderr does not name the unknown field:\n%s", stderr)
	}
}

func TestValidateMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	for _, format := range []string{"table", "json"} {
		code, stdout, stderr := runCLI(t, "topology", "validate", path, "-o", format)
		if code != exitFailure || stdout != "" {
			t.Errorf("-o %s: exit %d, stdout %q; want %d and nothing", format, code, stdout, exitFailure)
		}
		if want := "cellpay: topology: open " + path + ": no such file or directory\n"; stderr != want {
			t.Errorf("-o %s: stderr = %q, want %q", format, stderr, want)
		}
	}
}

func TestValidateWrongEnvironment(t *testing.T) {
	code, stdout, stderr := runCLI(t, "topology", "validate", demoFile, "--env", "prod")
	if code != exitInvalidConfig || stdout != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitInvalidConfig)
	}
	if want := `cellpay: topology: wrong environment: the topology is for environment "demo", but this process runs in environment "prod"` + "\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}

	code, stdout, _ = runCLI(t, "topology", "validate", demoFile, "--env", "prod", "-o", "json")
	if code != exitInvalidConfig {
		t.Errorf("-o json: exit %d, want %d", code, exitInvalidConfig)
	}
	report := decodeJSON(t, stdout)
	if report.Valid || len(report.Violations) != 1 || report.Violations[0].Path != "environment" ||
		!strings.Contains(report.Violations[0].Message, `"demo"`) || !strings.Contains(report.Violations[0].Message, `"prod"`) {
		t.Errorf("-o json: report = %+v", report)
	}
}
