package httpapi

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	if got != DefaultConfig() || got.BodyBytesMax != 64<<10 || got.RequestTimeout != 5*time.Second {
		t.Fatalf("defaults = %+v", got)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
}

func TestConfigValidateReportsEveryField(t *testing.T) {
	err := Config{BodyBytesMax: -1, RequestTimeout: time.Hour}.Validate()
	if err == nil {
		t.Fatal("invalid Config accepted")
	}
	for _, want := range []string{"BodyBytesMax (-1)", "RequestTimeout (1h0m0s)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestNewPanicsOnProgrammerErrors(t *testing.T) {
	for name, build := range map[string]func(){
		"nil server":     func() { New(nil, Config{}) },
		"invalid config": func() { New(newFakeServer(), Config{BodyBytesMax: 1 << 40}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			build()
		})
	}
}
