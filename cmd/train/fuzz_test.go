package main

import (
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// FuzzConfig feeds config.json files to the parser that -resume uses: none
// may panic, and one it accepts must take the presets, check clean and
// write back to a file that reads as the same settings.
func FuzzConfig(f *testing.F) {
	for _, args := range [][]string{
		nil,
		{"-framework", "mocov2", "-hallucinate=false"},
		{"-framework", "simsiam", "-preset", "gpu", "-epochs", "3"},
		{"-framework", "simclr", "-knn-ks", "1,5", "-on-nonfinite", "skip"},
		{"-framework", "byol", "-key-momentum", "0.996"},
	} {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			f.Fatal(err)
		}
		o.applyPreset(false)
		raw, _ := json.Marshal(o)
		f.Add(raw)
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"framework":"barlowtwins"}`, `{"epochs":-1}`, `{"lr":1e400}`,
		`{"warmup_epochs":1e300}`, `{"knn_ks":"0,5"}`, `{"batch":1}`, `{"anchor_crop":"auto","hallucinate":true}`,
		`{"depth":18,"width":9223372036854775807}`, `{"min_scale":-0}`, `{"framework":"SIMCLR"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := parseConfig(raw)
		if err != nil {
			return
		}
		o.resolveAnchorCrop()
		o.applyPreset(false)
		if err := o.check(); err != nil {
			t.Fatalf("accepted %s, but after the presets: %v", raw, err)
		}
		if o.AnchorCrop != "on" && o.AnchorCrop != "off" {
			t.Fatalf("anchor crop %q after the presets", o.AnchorCrop)
		}
		back, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("accepted %s, but it does not write back: %v", raw, err)
		}
		again, err := parseConfig(back)
		if err != nil {
			t.Fatalf("written back as %s, which is refused: %v", back, err)
		}
		again.Quiet = o.Quiet
		if !reflect.DeepEqual(o, again) {
			t.Fatalf("round trip changed the settings:\n%+v\n%+v", o, again)
		}
	})
}
