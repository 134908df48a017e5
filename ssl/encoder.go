package ssl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Encoder is a trained ResNet encoder ready for inference: the network in
// evaluation mode and what its input needs (channels, image size,
// normalisation). LoadEncoder reads one from a checkpoint of cmd/train
// (Trainer.Save) or from an encoder exported by ExportEncoder.
//
// An Encoder is safe for concurrent use by many goroutines: Embed, Batch and
// EmbedDataset never change the Encoder (the network stays in evaluation
// mode, where batch norm reads its running statistics and writes nothing,
// and every call records its forward on a tape of its own). On a backend
// that is not safe for concurrent use itself (one with Caps().Accelerator,
// such as the CUDA backend) the forwards take turns under a mutex; on the
// CPU backend they run at the same time. Concurrent calls give the same
// bits as the same calls one after another. Do not change Net (SetTraining,
// loading weights) while calls are in flight.
type Encoder struct {
	// Info describes the network and its input.
	Info EncoderInfo
	// Net is the ResNet, in evaluation mode.
	Net *nn.ResNet
	// Norm is the input normalisation (Info.Norm).
	Norm data.Normalize
	// BatchSize is the most images one forward takes (Embed,
	// EmbedDataset); 0 means 256.
	BatchSize int

	be     kernels.Backend
	serial bool
	mu     sync.Mutex
}

// Backend returns the backend the network lives on.
func (e *Encoder) Backend() kernels.Backend { return e.be }

// Dim is the size of the features, Info.Features.
func (e *Encoder) Dim() int { return e.Net.FeatureDim() }

// LoadEncoder reads the encoder of the safetensors file path onto be: a
// training checkpoint written by cmd/train (Trainer.Save), whose other
// tensors (heads, optimiser state, momentum encoder) it ignores, or an
// encoder exported by ExportEncoder. The file's MetaEncoder metadata says
// how to build the network; a checkpoint that predates it is read with
// what cmd/train's "config" metadata gives (see infoFromConfig), and the
// error says what is missing when that is not enough. Errors name the file:
// missing metadata, an unknown architecture, tensors missing or of the
// wrong shape, tensors holding NaN or infinities.
func LoadEncoder(path string, be kernels.Backend) (*Encoder, error) {
	e, _, err := loadEncoder(path, be)
	return e, err
}

// loadEncoder is LoadEncoder, returning the file's metadata as well.
func loadEncoder(path string, be kernels.Backend) (*Encoder, map[string]string, error) {
	info, ts, meta, err := readEncoder(path)
	if err != nil {
		return nil, nil, err
	}
	net, err := buildEncoder(be, info)
	if err != nil {
		return nil, nil, fmt.Errorf("ssl: %s: %w", path, err)
	}
	if err := nn.LoadState(net, ts); err != nil {
		var nf *nn.NonFiniteError
		if errors.As(err, &nf) {
			return nil, nil, fmt.Errorf("ssl: %s: the encoder's %w", path, err)
		}
		return nil, nil, fmt.Errorf("ssl: %s: the encoder's tensors do not match a %s of width %d, %s stem and %d input channels: %w",
			path, info.Arch, info.Width, info.Stem, info.InChannels, err)
	}
	net.SetTraining(false)
	return &Encoder{Info: info, Net: net, Norm: info.Norm.Normalize(), be: be, serial: be.Caps().Accelerator}, meta, nil
}

// ReadEncoderInfo returns the description of the encoder in the file path
// (as LoadEncoder reads it) without building the network.
func ReadEncoderInfo(path string) (EncoderInfo, error) {
	info, _, _, err := readEncoder(path)
	return info, err
}

// readEncoder reads path and returns the description of its encoder, the
// encoder's tensors, renamed without the prefix, and the file's metadata.
func readEncoder(path string) (EncoderInfo, []nn.NamedTensor, map[string]string, error) {
	all, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return EncoderInfo{}, nil, nil, fmt.Errorf("ssl: reading the encoder: %w", err)
	}
	var info EncoderInfo
	if raw, ok := meta[MetaEncoder]; ok {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return EncoderInfo{}, nil, nil, fmt.Errorf("ssl: %s: its %q metadata is not JSON: %v", path, MetaEncoder, err)
		}
		if info.Norm == nil {
			// A checkpoint whose trainer was not told the normalisation:
			// the data set's may still be known.
			if fb, err := infoFromConfig(meta, shapesOf(all)); err == nil {
				info.Norm = fb.Norm
			}
		}
	} else {
		if info, err = infoFromConfig(meta, shapesOf(all)); err != nil {
			return EncoderInfo{}, nil, nil, fmt.Errorf("ssl: %s: cannot describe its encoder: %w", path, err)
		}
	}
	if info.Framework == "" {
		info.Framework = meta[metaFramework]
	}
	if info.Dataset == "" && meta["config"] != "" {
		var c trainConfig
		if json.Unmarshal([]byte(meta["config"]), &c) == nil {
			info.Dataset = c.Dataset
		}
	}
	if info.Features == 0 {
		info.Features = 8 * info.Width
	}
	if err := info.check(); err != nil {
		return EncoderInfo{}, nil, nil, fmt.Errorf("ssl: %s: %w", path, err)
	}
	var ts []nn.NamedTensor
	for _, t := range all {
		if strings.HasPrefix(t.Name, info.Prefix) {
			name := strings.TrimPrefix(t.Name, info.Prefix)
			if info.Prefix == "" && strings.HasPrefix(name, "fc.") {
				continue // a classifier's head, not part of the encoder
			}
			t.Name = name
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return EncoderInfo{}, nil, nil, fmt.Errorf("ssl: %s: no tensor named %q...: the encoder's tensors are not in the file", path, info.Prefix)
	}
	return info, ts, meta, nil
}

func shapesOf(ts []nn.NamedTensor) map[string][]int {
	m := make(map[string][]int, len(ts))
	for _, t := range ts {
		m[t.Name] = t.T.Shape()
	}
	return m
}

// buildEncoder returns the network info describes, with throwaway weights.
func buildEncoder(be kernels.Backend, info EncoderInfo) (*nn.ResNet, error) {
	stem, err := nn.ParseStem(info.Stem)
	if err != nil {
		return nil, err
	}
	c := nn.ResNetConfig{Width: info.Width, Stem: stem, InChannels: info.InChannels}
	switch info.Depth {
	case 18:
		return nn.NewResNet18(be, tensor.NewRand(0), c)
	case 34:
		return nn.NewResNet34(be, tensor.NewRand(0), c)
	}
	return nil, fmt.Errorf("unknown architecture %q (depth %d)", info.Arch, info.Depth)
}

// batchSize is BatchSize or its default.
func (e *Encoder) batchSize() int {
	if e.BatchSize > 0 {
		return e.BatchSize
	}
	return 256
}

// Forward returns the features (host tensor [N, Dim()]) of a normalised
// host batch x [N, InChannels, H, W], such as Batch returns.
func (e *Encoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if s := x.Shape(); len(s) != 4 || s[1] != e.Info.InChannels {
		return nil, fmt.Errorf("ssl: encoder with %d input channels given a batch of shape %v", e.Info.InChannels, s)
	}
	if e.serial {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	tp := autograd.NewTape(e.be)
	var out *autograd.Var
	tp.NoGrad(func() { out = e.Net.Features(tp, autograd.NewVar(e.be.FromHost(x), false)) })
	h := e.be.ToHost(out.Value)
	return h, e.be.Sync()
}

// Embed returns the features (host tensor [len(imgs), Dim()]) of images of
// any size and color model, prepared as Batch prepares them, in forwards of
// at most BatchSize images. It stops between forwards when ctx is done.
func (e *Encoder) Embed(ctx context.Context, imgs []image.Image) (*tensor.Tensor, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("ssl: embedding no images")
	}
	d := e.Dim()
	feats := make([]float32, 0, len(imgs)*d)
	for lo := 0; lo < len(imgs); lo += e.batchSize() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, err := e.Batch(imgs[lo:min(lo+e.batchSize(), len(imgs))])
		if err != nil {
			return nil, fmt.Errorf("%w (images from %d)", err, lo)
		}
		h, err := e.Forward(x)
		if err != nil {
			return nil, err
		}
		feats = append(feats, h.Data()...)
	}
	return tensor.FromSlice(feats, len(imgs), d), nil
}

// EmbedDataset returns the features (host tensor [ds.N, Dim()]) of every
// image of ds, prepared as Batch prepares them (resized when their size is
// not the encoder's). ds must have the encoder's number of channels.
func (e *Encoder) EmbedDataset(ctx context.Context, ds *data.Dataset) (*tensor.Tensor, error) {
	if ds.C != e.Info.InChannels {
		return nil, fmt.Errorf("ssl: encoder with %d input channels given a data set of %d-channel images", e.Info.InChannels, ds.C)
	}
	if ds.N == 0 {
		return nil, fmt.Errorf("ssl: embedding an empty data set")
	}
	s := e.Info.ImageSize
	per := ds.C * s * s
	d := e.Dim()
	feats := make([]float32, 0, ds.N*d)
	for lo := 0; lo < ds.N; lo += e.batchSize() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+e.batchSize(), ds.N)
		buf := make([]float32, (hi-lo)*per)
		for i := lo; i < hi; i++ {
			pix, h, w, err := ds.ImageErr(i)
			if err != nil {
				return nil, err
			}
			e.prepare(data.ImageFromBytes(pix, ds.C, h, w), buf[(i-lo)*per:(i-lo+1)*per])
		}
		out, err := e.Forward(tensor.FromSlice(buf, hi-lo, ds.C, s, s))
		if err != nil {
			return nil, err
		}
		feats = append(feats, out.Data()...)
	}
	return tensor.FromSlice(feats, ds.N, d), nil
}
