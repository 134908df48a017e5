package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"hallucinator/dist"
	"hallucinator/nn"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
)

// options are the command's flags. Zero values of the sizes mean "the preset
// of the device": a run that fits about ten minutes on a small CPU, or the
// paper's protocol on a GPU.
type options struct {
	Framework   string  `json:"framework"`
	Hallucinate bool    `json:"hallucinate"`
	Compat      bool    `json:"compat"`
	AnchorCrop  string  `json:"anchor_crop"` // auto, on, off
	MinScale    float64 `json:"min_scale"`
	Dataset     string  `json:"dataset"`
	DataDir     string  `json:"data_dir"`
	ImageSize   int     `json:"image_size"`
	TrainSubset int     `json:"train_subset"`
	TestSubset  int     `json:"test_subset"`
	Val         int     `json:"val,omitempty"`
	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"`
	LR          float64 `json:"lr"`
	FinalLR     float64 `json:"final_lr"`
	WarmupEp    float64 `json:"warmup_epochs"`
	Optimizer   string  `json:"optimizer"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Temperature float64 `json:"temperature"`
	Queue       int     `json:"queue"`
	KeyMomentum float64 `json:"key_momentum"`
	ShuffleBN   int     `json:"shuffle_bn"`
	Jitter      float64 `json:"color_jitter"`
	ProjHidden  int     `json:"proj_hidden,omitempty"`
	ProjDim     int     `json:"proj_dim,omitempty"`
	PredHidden  int     `json:"pred_hidden,omitempty"`
	Width       int     `json:"width"`
	Depth       int     `json:"depth"`
	Stem        string  `json:"stem"` // auto, cifar, cifar-pool, imagenet
	Device      string  `json:"device"`
	Preset      string  `json:"preset"` // auto, cpu, gpu
	Seed        uint64  `json:"seed"`
	Workers     int     `json:"workers"`
	Out         string  `json:"out"`
	Resume      string  `json:"resume"`
	EvalEvery   int     `json:"eval_every"`
	CkptEvery   int     `json:"checkpoint_every"`
	KNNK        int     `json:"knn_k"`
	KNNKs       string  `json:"knn_ks,omitempty"`
	ProbeEpochs int     `json:"probe_epochs"`
	ProbeLR     float64 `json:"probe_lr"`
	ProbeAug    bool    `json:"probe_aug,omitempty"`
	MaxSteps    int     `json:"max_steps"`
	OnNonFinite string  `json:"on_nonfinite,omitempty"` // stop, skip
	Dist        string  `json:"-"`                      // auto, mpi, none
	NProc       int     `json:"-"`                      // -nproc-per-node
	Quiet       bool    `json:"-"`

	// flags is the flag set the options were parsed by; set names the
	// flags given on the command line.
	flags *flag.FlagSet
	set   map[string]bool
	// comm is the run's communicator (nil: one process); rank0 says
	// whether this process writes the run's files.
	comm dist.Comm
	// fromFile is set when the settings came from -config.
	fromFile bool
	// extendFrom is the number of epochs of a run that -resume -epochs
	// extends (0 otherwise).
	extendFrom int
}

// parseFlags reads the command line. With -config FILE the settings start
// from that file (a config.json a run wrote) and the flags given on the
// command line override them.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	// A first pass only finds -config; the second reports any error.
	config := ""
	if pre, _ := newFlagSet(&options{}, &config, io.Discard); pre.Parse(args) == nil {
		config = pre.Lookup("config").Value.String()
	}
	o := &options{}
	var path string
	fs, _ := newFlagSet(o, &path, stderr)
	if config != "" {
		raw, err := os.ReadFile(config)
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		if err := json.Unmarshal(raw, o); err != nil {
			return nil, fmt.Errorf("-config %s: %w", config, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.flags, o.set = fs, map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if config != "" {
		o.fromFile = true
		// A new run: not the configured run's directory, unless given.
		if !o.set["out"] {
			o.Out = ""
		}
		if !o.set["resume"] {
			o.Resume = ""
		}
	}
	return o, o.check()
}

// newFlagSet defines the command's flags on o (and -config on config).
func newFlagSet(o *options, config *string, stderr io.Writer) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(config, "config", "", "start from the settings of this config.json (a run's; the flags given here override it)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: train [flags]\n\nSelf-supervised pre-training with the Hallucinator, then kNN and linear-probe evaluation.\n"+
			"Sizes left at 0 take the device's preset: a ~10-minute run on a CPU, the paper's protocol on a GPU.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Framework, "framework", "simclr", "simclr, mocov1, mocov2, simsiam or byol")
	fs.BoolVar(&o.Hallucinate, "hallucinate", true, "switch the Hallucinator on")
	fs.BoolVar(&o.Compat, "compat", false, "reproduce the released code's behaviour (twins as negatives, double enqueue, untrained SimSiam hallucinator, the anchor crop's window biased to the top left)")
	fs.StringVar(&o.AnchorCrop, "anchor-crop", "auto", "anchor-view centre-box crop: auto (on with the Hallucinator; off in the CPU preset of SimSiam and BYOL), on, off")
	fs.Float64Var(&o.Jitter, "color-jitter", -1, "ColorJitter strength of the pre-training views: brightness, contrast and saturation, a quarter of it for hue (0: none; -1: preset, the paper's 0.4 on a GPU, on a CPU 0.6 for MoCo, 0.8 for SimCLR, SimSiam and BYOL)")
	fs.Float64Var(&o.MinScale, "min-scale", 0, "smallest crop area of RandomResizedCrop, as a fraction of the image (0: preset; the paper's is 0.2)")
	fs.StringVar(&o.Dataset, "dataset", "fashion-mnist", "fashion-mnist, mnist, cifar10, cifar100, stl10, tiny-imagenet or folder")
	fs.StringVar(&o.DataDir, "data", "", "data directory (default: Debian's Fashion-MNIST for fashion-mnist)")
	fs.IntVar(&o.ImageSize, "image-size", 0, "image side for folder data sets (0: 64)")
	fs.IntVar(&o.TrainSubset, "train-subset", -1, "pre-train on the first N training images (0: all; -1: device preset)")
	fs.IntVar(&o.TestSubset, "test-subset", 0, "evaluate on the first N test images (0: all)")
	fs.IntVar(&o.Val, "val", 0, "training images held out for validation, class by class, the same for every run: the monitor reads them, the test set is read once at the end (0: none; -1: the data set's default, 10000 for Fashion-MNIST and CIFAR, a tenth elsewhere)")
	fs.IntVar(&o.Epochs, "epochs", 0, "pre-training epochs (0: preset; on a CPU 8 for MoCo, 6 for SimCLR, SimSiam and BYOL)")
	fs.IntVar(&o.Batch, "batch", 0, "batch size (images; each gives two views)")
	fs.Float64Var(&o.LR, "lr", 0, "peak learning rate (0: preset)")
	fs.Float64Var(&o.FinalLR, "final-lr", -1, "learning rate at the end of the cosine schedule (-1: lr/10)")
	fs.Float64Var(&o.WarmupEp, "warmup", -1, "linear warm-up in epochs (-1: preset; the paper's 10 on a GPU, on a CPU 0.2, and 1 for MoCo with the Hallucinator)")
	fs.StringVar(&o.Optimizer, "optimizer", "sgd", "sgd or lars")
	fs.Float64Var(&o.Momentum, "momentum", 0.9, "SGD momentum")
	fs.Float64Var(&o.WeightDecay, "wd", 1e-4, "weight decay")
	fs.Float64Var(&o.Temperature, "temperature", 0, "InfoNCE temperature (0: the framework's default; in the CPU preset 0.2 for SimCLR, 0.1 for MoCo)")
	fs.IntVar(&o.Queue, "queue", 0, "MoCo queue size (0: preset)")
	fs.Float64Var(&o.KeyMomentum, "key-momentum", 0.99, "MoCo key-encoder momentum; BYOL's target momentum at the start, raised to 1 on a cosine over the run")
	fs.IntVar(&o.ShuffleBN, "shuffle-bn", 4, "MoCo's shuffling batch norm: batch-norm groups, keys shuffled among them (0: off); the batch size must be a multiple")
	fs.IntVar(&o.ProjHidden, "proj-hidden", 0, "hidden width of the projection head (0: the framework's, 512)")
	fs.IntVar(&o.ProjDim, "proj-dim", 0, "output width of the projection head (0: the framework's, 128; SimSiam 512)")
	fs.IntVar(&o.PredHidden, "pred-hidden", 0, "hidden width of the predictor of SimSiam and BYOL (0: the framework's, SimSiam 128, BYOL 512)")
	fs.IntVar(&o.Width, "width", 0, "ResNet base width (0: preset; 64 is the paper's)")
	fs.IntVar(&o.Depth, "depth", 18, "ResNet depth: 18 or 34")
	fs.StringVar(&o.Stem, "stem", "auto", "ResNet stem: cifar (3x3 stride 1), cifar-pool (cifar and a 2x2 max pool), imagenet (7x7 stride 2 and a max pool), or auto (imagenet above 64 pixels, else the preset's)")
	fs.StringVar(&o.Device, "device", "auto", "auto, cpu, cuda or ref")
	fs.StringVar(&o.Preset, "preset", "auto", "settings of the flags left unset: cpu (the ~10-minute run), gpu (the paper's sizes), paper (the released configuration, docs/paper-preset.md) or auto (cpu or gpu by the device)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of initialisation, data order and augmentation")
	fs.IntVar(&o.Workers, "workers", 0, "augmentation workers (0: number of CPUs)")
	fs.StringVar(&o.Out, "out", "", "output directory (default runs/<framework>-<time>)")
	fs.StringVar(&o.Resume, "resume", "", "continue the run in this output directory (its checkpoint and configuration)")
	fs.IntVar(&o.EvalEvery, "eval-every", 0, "kNN monitor every N epochs (0: only at the end)")
	fs.IntVar(&o.CkptEvery, "checkpoint-every", 1, "checkpoint every N epochs (and at the end, and on Ctrl-C)")
	fs.IntVar(&o.KNNK, "knn-k", 200, "neighbours of the kNN monitor")
	fs.StringVar(&o.KNNKs, "knn-ks", "", "more neighbour counts for the final kNN of the features and of the raw pixels alike, e.g. 1,5,20,50 (in summary.json)")
	fs.IntVar(&o.ProbeEpochs, "probe-epochs", 0, "linear-probe epochs (0: preset; the paper's is 100)")
	fs.Float64Var(&o.ProbeLR, "probe-lr", 0.1, "linear-probe learning rate (on standardised features)")
	fs.BoolVar(&o.ProbeAug, "probe-aug", false, "also the paper's linear probe: trained on augmented images through the frozen encoder, lr 10, -probe-epochs epochs (on in the paper preset; slow on a CPU)")
	fs.IntVar(&o.MaxSteps, "max-steps", 0, "stop each epoch after N steps (0: full epochs)")
	fs.StringVar(&o.OnNonFinite, "on-nonfinite", "stop", "a step whose loss or gradient is NaN or infinite: stop (the last checkpoint stays as it was) or skip (the step changes nothing and is counted; 20 in a row stop the run)")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bar")
	fs.StringVar(&o.Dist, "dist", "auto", "data-parallel communicator: mpi (host tensors, over MPICH; launch with mpiexec or srun), none, or auto (mpi when an MPI or SLURM launcher started the process)")
	fs.IntVar(&o.NProc, "nproc-per-node", 0, "start this many processes on this machine through mpiexec and train data-parallel over them (-batch is the global batch)")
	return fs, o
}

func (o *options) check() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	o.Framework = strings.ToLower(o.Framework)
	switch o.Framework {
	case "simclr", "mocov1", "mocov2", "simsiam", "byol":
	default:
		bad("-framework %q: want simclr, mocov1, mocov2, simsiam or byol", o.Framework)
	}
	switch o.Dist {
	case "", "auto", "mpi", "none": // "": a configuration read from a file
	default:
		bad("-dist %q: want auto, mpi or none", o.Dist)
	}
	if o.NProc < 0 || o.NProc == 1 {
		bad("-nproc-per-node %d: want 2 or more (0: one process)", o.NProc)
	}
	if o.Preset == "paper" && o.Framework == "byol" {
		bad("-preset paper: the paper has no BYOL runs (use -preset gpu)")
	}
	// Checked here, before a run directory is made.
	if err := data.CheckName(o.Dataset); err != nil {
		bad("-dataset %q: %v", o.Dataset, strings.TrimPrefix(err.Error(), "data: "))
	} else if !strings.EqualFold(o.Dataset, "fashion-mnist") && o.DataDir == "" {
		bad("-dataset %s needs -data DIR, the directory of its files", o.Dataset)
	}
	switch o.AnchorCrop {
	case "auto", "on", "off":
	default:
		bad("-anchor-crop %q: want auto, on or off", o.AnchorCrop)
	}
	switch o.Device {
	case "auto", "cpu", "cuda", "ref":
	default:
		bad("-device %q: want auto, cpu, cuda or ref", o.Device)
	}
	switch o.Preset {
	case "", "auto", "cpu", "gpu", "paper":
	default:
		bad("-preset %q: want auto, cpu, gpu or paper", o.Preset)
	}
	switch o.OnNonFinite {
	case "", "stop", "skip":
	default:
		bad("-on-nonfinite %q: want stop or skip", o.OnNonFinite)
	}
	for _, f := range []struct {
		flag string
		v    float64
	}{
		{"lr", o.LR}, {"final-lr", o.FinalLR}, {"warmup", o.WarmupEp}, {"momentum", o.Momentum}, {"wd", o.WeightDecay},
		{"temperature", o.Temperature}, {"key-momentum", o.KeyMomentum}, {"color-jitter", o.Jitter},
		{"min-scale", o.MinScale}, {"probe-lr", o.ProbeLR},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			bad("-%s %v: want a finite number", f.flag, f.v)
		}
	}
	if o.WarmupEp > maxWarmup {
		bad("-warmup %v: want at most %d epochs", o.WarmupEp, maxWarmup)
	}
	if o.Epochs < 0 || o.TestSubset < 0 || o.Batch < 0 || o.Width < 0 || o.Queue < 0 || o.ProbeEpochs < 0 || o.MaxSteps < 0 || o.Workers < 0 {
		bad("sizes must not be negative")
	}
	if !(o.MinScale >= 0 && o.MinScale <= 1) {
		bad("-min-scale %v: want a fraction in (0, 1], or 0 for the preset", o.MinScale)
	}
	if o.Batch == 1 {
		bad("-batch 1: contrastive learning needs at least two images per batch")
	}
	if o.Stem != "auto" && o.Stem != "" {
		if _, err := nn.ParseStem(o.Stem); err != nil {
			bad("-stem %q: want auto, cifar, cifar-pool or imagenet", o.Stem)
		}
	}
	if o.Depth != 18 && o.Depth != 34 {
		bad("-depth %d: want 18 or 34", o.Depth)
	}
	if o.LR < 0 || o.Temperature < 0 || o.WeightDecay < 0 || !(o.Momentum >= 0 && o.Momentum < 1) {
		bad("-lr, -temperature and -wd must be >= 0 and -momentum in [0, 1)")
	}
	if !(o.Jitter >= 0 && o.Jitter <= 1) && o.Jitter != -1 {
		bad("-color-jitter %v: want a strength in [0, 1], or -1 for the preset", o.Jitter)
	}
	if o.ProjHidden < 0 || o.ProjDim < 0 || o.PredHidden < 0 {
		bad("-proj-hidden, -proj-dim and -pred-hidden must be >= 0 (0: the framework's)")
	}
	if o.ShuffleBN < 0 {
		bad("-shuffle-bn %d: want >= 0", o.ShuffleBN)
	}
	if !(o.KeyMomentum >= 0 && o.KeyMomentum < 1) {
		bad("-key-momentum %v: want [0, 1)", o.KeyMomentum)
	}
	if _, err := parseKs(o.KNNKs); err != nil {
		bad("-knn-ks: %v", err)
	}
	if o.KNNK <= 0 || o.CkptEvery <= 0 || o.EvalEvery < 0 {
		bad("-knn-k and -checkpoint-every must be positive, -eval-every >= 0")
	}
	if o.ProbeLR < 0 {
		bad("-probe-lr %v: want >= 0", o.ProbeLR)
	}
	return errors.Join(errs...)
}

// maxWarmup bounds -warmup (in epochs), so that its number of steps is a
// whole number that cannot overflow.
const maxWarmup = 100000

// resolveAnchorCrop turns -anchor-crop auto into on (with the Hallucinator)
// or off, so that the configuration a run writes says what it did.
func (o *options) resolveAnchorCrop() {
	if o.AnchorCrop == "auto" {
		o.AnchorCrop = "off"
		if o.Hallucinate {
			o.AnchorCrop = "on"
		}
	}
}

// anchorCrop says whether the anchor view takes the anchor crop: "on", or
// "auto" with the Hallucinator.
func (o *options) anchorCrop() bool {
	return o.AnchorCrop == "on" || (o.AnchorCrop == "auto" && o.Hallucinate)
}

// parseKs reads a comma-separated list of neighbour counts.
func parseKs(list string) ([]int, error) {
	var ks []int
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k <= 0 {
			return nil, fmt.Errorf("%q: want positive whole numbers separated by commas", list)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// applyPreset fills the settings left at zero (or at -1, or "auto") from
// the preset (ssl.PresetFor): -preset cpu or gpu, or with -preset auto the
// gpu preset on an accelerator (the backend's Caps().Accelerator), else the
// cpu one.
func (o *options) applyPreset(accelerator bool) {
	name := "cpu"
	if accelerator {
		name = "gpu"
	}
	if o.Preset == "cpu" || o.Preset == "gpu" || o.Preset == "paper" {
		name = o.Preset
	}
	o.Preset = name // resolved, so that a resumed run keeps it
	p, err := ssl.PresetFor(name, o.Framework, o.Hallucinate)
	if err != nil {
		panic(err) // o.check has accepted the framework and the preset
	}
	set := func(v *int, x int) {
		if *v == 0 {
			*v = x
		}
	}
	setF := func(v *float64, x float64, negative bool) {
		if *v == 0 && !negative || *v < 0 && negative {
			*v = x
		}
	}
	set(&o.Width, p.Width)
	set(&o.Batch, p.Batch)
	set(&o.Epochs, p.Epochs)
	set(&o.ProbeEpochs, p.ProbeEpochs)
	set(&o.Queue, p.Queue)
	if o.TrainSubset < 0 {
		o.TrainSubset = 0
	}
	// Unset is 0 for these, negative for those whose 0 is a setting.
	setF(&o.LR, p.LR, false)
	setF(&o.MinScale, p.MinScale, false)
	setF(&o.Temperature, p.Temperature, false)
	setF(&o.WarmupEp, p.WarmupEpochs, true)
	setF(&o.Jitter, p.Jitter, true)
	// Settings whose zero is a value: taken from the preset on a fresh
	// command line only (a resumed or -config run keeps its own).
	if fresh := o.set != nil && !o.fromFile; fresh {
		if !o.set["key-momentum"] && p.KeyMomentum != 0 {
			o.KeyMomentum = p.KeyMomentum
		}
		if !o.set["wd"] && p.WeightDecay != 0 {
			o.WeightDecay = p.WeightDecay
		}
		if !o.set["probe-aug"] && name == "paper" {
			o.ProbeAug = true
		}
	}
	if o.AnchorCrop == "auto" && !p.AnchorCrop {
		o.AnchorCrop = "off"
	}
	if o.FinalLR < 0 {
		o.FinalLR = o.LR / 10
	}
	o.resolveAnchorCrop()
	if o.Workers == 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Out == "" {
		o.Out = fmt.Sprintf("runs/%s-%s", o.Framework, time.Now().Format("20060102-150405"))
	}
}
