package ssl

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
)

// ExportEncoder writes the encoder of the checkpoint ckptPath (a training
// checkpoint of cmd/train, or an exported encoder) alone to outPath, as a
// safetensors file replaced atomically (a temporary file renamed over it,
// as nn.WriteSafetensors does), with its MetaEncoder metadata (prefix ""),
// "format": "pt", and the checkpoint's "framework" and "config" metadata
// when it has them. LoadEncoder reads it.
//
// The tensor names are torchvision's ResNet state_dict keys without fc:
// conv1.weight, bn1.{weight,bias,running_mean,running_var,
// num_batches_tracked}, layerL.B.conv1.weight, layerL.B.bn1.*,
// layerL.B.conv2.weight, layerL.B.bn2.*, and for the first block of layers
// 2-4 layerL.0.downsample.0.weight (the 1x1 convolution) and
// layerL.0.downsample.1.* (its batch norm); num_batches_tracked is a 64-bit
// integer as in PyTorch. With the imagenet stem and width 64 the file loads
// into torchvision.models.resnet18() (or resnet34) with the fc layer
// removed or load_state_dict(strict=False). The cifar stems differ from
// torchvision's in shapes only: conv1.weight is [Width, C, 3, 3] (stride 1,
// padding 1) instead of [64, 3, 7, 7] (stride 2, padding 3) and there is no
// max pool (cifar) or a 2x2 stride-2 one (cifar-pool), which have no
// tensors; a torch model must be built with that stem to load it. Other
// widths scale every channel count by Width/64.
func ExportEncoder(ckptPath, outPath string) error {
	enc, src, err := loadEncoder(ckptPath, ref.New())
	if err != nil {
		return err
	}
	ts, err := nn.StateTensors(enc.Net)
	if err != nil {
		return fmt.Errorf("ssl: exporting %s: %w", ckptPath, err)
	}
	ts = moduleOrder(ts)
	info := enc.Info
	info.Prefix = ""
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", MetaEncoder: string(raw)}
	for _, k := range []string{metaFramework, "config"} {
		if v, ok := src[k]; ok {
			meta[k] = v
		}
	}
	if err := nn.WriteSafetensors(outPath, ts, meta); err != nil {
		return fmt.Errorf("ssl: exporting the encoder of %s: %w", ckptPath, err)
	}
	return nil
}

// moduleOrder sorts the tensors of nn.StateTensors (every parameter, then
// every buffer) module by module, in the order the modules first appear,
// as PyTorch's state_dict lists them: bn1.weight, bn1.bias,
// bn1.running_mean, ... then layer1.0.conv1.weight.
func moduleOrder(ts []nn.NamedTensor) []nn.NamedTensor {
	rank := map[string]int{}
	module := func(name string) string {
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			return name[:i]
		}
		return ""
	}
	for _, t := range ts {
		if _, ok := rank[module(t.Name)]; !ok {
			rank[module(t.Name)] = len(rank)
		}
	}
	out := append([]nn.NamedTensor(nil), ts...)
	sort.SliceStable(out, func(i, j int) bool { return rank[module(out[i].Name)] < rank[module(out[j].Name)] })
	return out
}
