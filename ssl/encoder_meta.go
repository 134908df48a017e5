package ssl

import (
	"encoding/json"
	"fmt"
	"strings"

	"hallucinator/nn"
	"hallucinator/ssl/data"
)

// MetaEncoder is the safetensors metadata key under which checkpoints
// (Trainer.Save) and exported encoders (ExportEncoder) describe their
// encoder: a JSON EncoderInfo, e.g.
//
//	{"arch":"resnet18","depth":18,"width":8,"stem":"cifar","in_channels":1,
//	 "features":64,"image_size":28,"norm":{"mean":[0.286],"std":[0.353]},
//	 "prefix":"encoder."}
//
// It is additive: Trainer.Load ignores it, so checkpoints with and without
// it resume alike.
const MetaEncoder = "encoder"

// EncoderInfo describes an encoder stored in a safetensors file: enough to
// build the network with nn's constructors and to prepare its input.
type EncoderInfo struct {
	// Arch is "resnet18" or "resnet34"; Depth is 18 or 34.
	Arch  string `json:"arch"`
	Depth int    `json:"depth"`
	// Width is the number of channels of the stem and of layer1.
	Width int `json:"width"`
	// Stem is the stem as nn.ParseStem reads it: "imagenet", "cifar" or
	// "cifar-pool" (never "auto").
	Stem       string `json:"stem"`
	InChannels int    `json:"in_channels"`
	// Features is the size of the pooled features, 8*Width.
	Features int `json:"features"`
	// ImageSize is the side of the (square) images the encoder was trained
	// on; Encoder.Batch resizes to it.
	ImageSize int `json:"image_size"`
	// Norm is the per-channel normalisation of the input (after scaling
	// the pixels to [0, 1]).
	Norm *NormInfo `json:"norm,omitempty"`
	// Prefix is what the encoder's tensor names start with in the file:
	// "encoder." (SimCLR, SimSiam, BYOL's online encoder), "encoder_q."
	// (MoCo's query encoder), or "" in an exported encoder.
	Prefix string `json:"prefix"`
	// Framework and Dataset, when known, say where the encoder comes from.
	Framework string `json:"framework,omitempty"`
	Dataset   string `json:"dataset,omitempty"`
}

// NormInfo is the JSON form of a data.Normalize.
type NormInfo struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Normalize returns n as a data.Normalize.
func (n *NormInfo) Normalize() data.Normalize {
	return data.Normalize{Mean: append([]float64(nil), n.Mean...), Std: append([]float64(nil), n.Std...)}
}

// encoderInfo describes the encoder r of a framework whose tensors are named
// prefix + r's names.
func encoderInfo(r *nn.ResNet, prefix string, imageSize int, norm data.Normalize) EncoderInfo {
	info := EncoderInfo{Arch: fmt.Sprintf("resnet%d", r.Depth), Depth: r.Depth, Width: r.Config.Width,
		Stem: r.Config.Stem.String(), InChannels: r.Config.InChannels, Features: r.FeatureDim(),
		ImageSize: imageSize, Prefix: prefix}
	if len(norm.Mean) > 0 {
		info.Norm = &NormInfo{Mean: append([]float64(nil), norm.Mean...), Std: append([]float64(nil), norm.Std...)}
	}
	return info
}

// encoderPrefix returns the prefix of the encoder's names among fw's
// parameters, found by identity of its first parameter.
func encoderPrefix(fw Framework) string {
	enc := fw.Encoder()
	if enc == nil {
		return ""
	}
	first := enc.Params()[0]
	for _, p := range fw.Params() {
		if p.V == first.V {
			return strings.TrimSuffix(p.Name, first.Name)
		}
	}
	return ""
}

// check says what is wrong with info, or nil.
func (info *EncoderInfo) check() error {
	var bad []string
	if info.Depth != 18 && info.Depth != 34 {
		bad = append(bad, fmt.Sprintf("depth %d (want 18 or 34)", info.Depth))
	} else if want := fmt.Sprintf("resnet%d", info.Depth); info.Arch != "" && info.Arch != want {
		bad = append(bad, fmt.Sprintf("architecture %q with depth %d", info.Arch, info.Depth))
	}
	if info.Width <= 0 {
		bad = append(bad, fmt.Sprintf("width %d", info.Width))
	}
	if info.InChannels <= 0 {
		bad = append(bad, fmt.Sprintf("%d input channels", info.InChannels))
	}
	if _, err := nn.ParseStem(info.Stem); err != nil {
		bad = append(bad, fmt.Sprintf("stem %q (want imagenet, cifar or cifar-pool)", info.Stem))
	}
	if info.Features != 0 && info.Width > 0 && info.Features != 8*info.Width {
		bad = append(bad, fmt.Sprintf("%d features for width %d (want %d)", info.Features, info.Width, 8*info.Width))
	}
	if info.ImageSize <= 0 {
		bad = append(bad, fmt.Sprintf("image size %d", info.ImageSize))
	}
	if info.Norm == nil {
		bad = append(bad, "no normalisation")
	} else {
		n := info.Norm
		if len(n.Mean) != info.InChannels || len(n.Std) != info.InChannels {
			bad = append(bad, fmt.Sprintf("normalisation with %d means and %d stds for %d channels", len(n.Mean), len(n.Std), info.InChannels))
		}
		for _, s := range n.Std {
			if !(s > 0) {
				bad = append(bad, fmt.Sprintf("normalisation std %v (want positive)", n.Std))
				break
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("bad encoder description: %s", strings.Join(bad, ", "))
	}
	return nil
}

// imageSizeFor is the side of the images of the data sets cmd/train
// knows, 0 when unknown.
func imageSizeFor(dataset string, folderSize int) int {
	switch strings.ToLower(dataset) {
	case "fashion-mnist", "mnist":
		return 28
	case "cifar10", "cifar100":
		return 32
	case "stl10":
		return 96
	case "tiny-imagenet", "folder":
		if folderSize > 0 {
			return folderSize
		}
		return 64
	}
	return 0
}

// trainConfig is what infoFromConfig reads of the "config" metadata that
// cmd/train writes (its options as JSON).
type trainConfig struct {
	Framework string `json:"framework"`
	Dataset   string `json:"dataset"`
	ImageSize int    `json:"image_size"`
	Width     int    `json:"width"`
	Depth     int    `json:"depth"`
	Stem      string `json:"stem"`
}

// infoFromConfig describes the encoder of a checkpoint that predates the
// MetaEncoder key, from cmd/train's "config" metadata and the tensors'
// names and shapes: the stem "auto" resolves as cmd/train resolved it
// (imagenet above 64 pixels, else cifar), the input channels come from the
// stem's weights and the normalisation from the data set's name.
func infoFromConfig(meta map[string]string, shapes map[string][]int) (EncoderInfo, error) {
	raw, ok := meta["config"]
	if !ok {
		return EncoderInfo{}, fmt.Errorf("no %q metadata describing the encoder, and no %q metadata (cmd/train's options) to fall back on", MetaEncoder, "config")
	}
	var c trainConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return EncoderInfo{}, fmt.Errorf("no %q metadata, and its %q metadata is not JSON: %v", MetaEncoder, "config", err)
	}
	info := EncoderInfo{Depth: c.Depth, Width: c.Width, Framework: c.Framework, Dataset: c.Dataset}
	if info.Depth == 0 {
		info.Depth = 18
	}
	info.Arch = fmt.Sprintf("resnet%d", info.Depth)
	for _, p := range []string{"encoder.", "encoder_q.", ""} {
		if _, ok := shapes[p+"conv1.weight"]; ok {
			info.Prefix = p
			break
		}
	}
	w, ok := shapes[info.Prefix+"conv1.weight"]
	if !ok || len(w) != 4 {
		return EncoderInfo{}, fmt.Errorf("no %q metadata, and no encoder tensor conv1.weight (prefixed encoder. or encoder_q.) of 4 dimensions", MetaEncoder)
	}
	info.InChannels = w[1]
	if info.Width == 0 {
		info.Width = w[0]
	}
	info.Features = 8 * info.Width
	var missing []string
	if info.ImageSize = imageSizeFor(c.Dataset, c.ImageSize); info.ImageSize == 0 {
		missing = append(missing, fmt.Sprintf("the image size (data set %q is not one cmd/train knows)", c.Dataset))
	}
	switch {
	case c.Stem != "" && c.Stem != "auto":
		info.Stem = c.Stem
	case info.ImageSize > 64:
		info.Stem = nn.StemImageNet.String()
	case info.ImageSize > 0:
		info.Stem = nn.StemCIFAR.String()
	}
	if nm, err := data.NormalizeFor(c.Dataset); err == nil && len(nm.Mean) == info.InChannels {
		info.Norm = &NormInfo{Mean: nm.Mean, Std: nm.Std}
	} else {
		missing = append(missing, fmt.Sprintf("the normalisation (data set %q: measured on its images when trained, and not stored)", c.Dataset))
	}
	if len(missing) > 0 {
		return EncoderInfo{}, fmt.Errorf("the checkpoint predates the %q metadata, and its %q metadata does not give %s", MetaEncoder, "config", strings.Join(missing, " nor "))
	}
	return info, nil
}
