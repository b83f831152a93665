package jobs

import (
	"testing"

	"github.com/tandemml/tandem"
)

func TestSizeCores(t *testing.T) {
	for size, want := range map[string]int{
		"STANDARD_DS3_v2": 4, "Standard_D3": 4, "Standard_D11_v2": 2, "STANDARD_D2_V2": 2, "Standard_DS12_v2": 4,
		"Standard_D4s_v3": 4, "Standard_D2_v3": 2, "Standard_E8ds_v5": 8, "Standard_NC6": 6, "Standard_NC24ads_A100_v4": 24,
		"Standard_A2_v2": 2, "Standard_A3": 4, "Standard_F4s_v2": 4, "Standard_M64ms": 64, "Basic_A1": 1,
	} {
		if got, err := SizeCores(size); err != nil || got != want {
			t.Errorf("SizeCores(%q) = %d, %v; want %d", size, got, err, want)
		}
	}
	for _, bad := range []string{"", "DS3", "Standard_", "Standard_XYZ", "huge_D4"} {
		if _, err := SizeCores(bad); !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("SizeCores(%q): %v, want Invalid", bad, err)
		}
	}
}
