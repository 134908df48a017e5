package ssl

import "testing"

func TestPresetFor(t *testing.T) {
	for _, tc := range []struct {
		name, fw string
		hal      bool
		want     Preset
	}{
		{"cpu", "simclr", true, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 6, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 0.2, MinScale: 0.9, Jitter: 0.8, AnchorCrop: true, Temperature: 0.2}},
		{"cpu", "simclr", false, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 6, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 0.2, MinScale: 0.9, Jitter: 0.8, Temperature: 0.2}},
		{"cpu", "mocov2", true, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 8, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 1, MinScale: 0.9, Jitter: 0.6, AnchorCrop: true, Temperature: 0.1}},
		{"cpu", "MoCoV1", false, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 8, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 0.2, MinScale: 0.9, Jitter: 0.6, Temperature: 0.1}},
		{"cpu", "simsiam", true, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 6, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 0.2, MinScale: 0.5, Jitter: 0.8}},
		{"cpu", "byol", true, Preset{Name: "cpu", Width: 8, Batch: 64, Epochs: 6, ProbeEpochs: 30, Queue: 4096, LR: 0.3,
			WarmupEpochs: 0.2, MinScale: 0.5, Jitter: 0.8}},
		{"GPU", "simsiam", true, Preset{Name: "gpu", Width: 64, Batch: 512, Epochs: 500, ProbeEpochs: 100, Queue: 4096, LR: 0.5,
			WarmupEpochs: 10, MinScale: 0.2, Jitter: 0.4, AnchorCrop: true}},
		{"gpu", "mocov2", false, Preset{Name: "gpu", Width: 64, Batch: 512, Epochs: 500, ProbeEpochs: 100, Queue: 4096, LR: 0.5,
			WarmupEpochs: 10, MinScale: 0.2, Jitter: 0.4}},
		{"paper", "mocov2", true, Preset{Name: "paper", Width: 64, Batch: 512, Epochs: 500, ProbeEpochs: 100, Queue: 65536, LR: 0.5,
			MinScale: 0.2, Jitter: 0.4, AnchorCrop: true, Temperature: 0.2, KeyMomentum: 0.999, WeightDecay: 1e-4, Unlabeled: true}},
		{"paper", "simclr", false, Preset{Name: "paper", Width: 64, Batch: 512, Epochs: 500, ProbeEpochs: 100, Queue: 4096, LR: 0.5,
			MinScale: 0.2, Jitter: 0.4, Temperature: 0.5, WeightDecay: 1e-4, Unlabeled: true,
			Arch: Config{ProjNoBN: true, LossScale: float32(0.5 / 0.07)}}},
		{"paper", "simsiam", true, Preset{Name: "paper", Width: 64, Batch: 512, Epochs: 500, ProbeEpochs: 100, Queue: 4096, LR: 0.5,
			MinScale: 0.2, Jitter: 0.4, AnchorCrop: true, WeightDecay: 1e-4, Unlabeled: true,
			Arch: Config{ZeroInitResidual: true, ProjLastBNNoAffine: true}}},
	} {
		got, err := PresetFor(tc.name, tc.fw, tc.hal)
		if err != nil || got != tc.want {
			t.Errorf("PresetFor(%s, %s, %v) = %+v, %v; want %+v", tc.name, tc.fw, tc.hal, got, err, tc.want)
		}
	}
	if _, err := PresetFor("laptop", "simclr", true); err == nil {
		t.Error("unknown preset accepted")
	}
	if _, err := PresetFor("cpu", "dino", true); err == nil {
		t.Error("unknown framework accepted")
	}
	if _, err := PresetFor("paper", "byol", true); err == nil {
		t.Error("a paper preset for BYOL, which the paper does not run")
	}
}
