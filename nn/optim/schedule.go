package optim

import (
	"math"
)

// Schedule gives the learning rate of each optimiser step (counted from 0).
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant struct {
	Value float64
}

// LR returns c.Value.
func (c Constant) LR(int) float64 { return c.Value }

// WarmupCosine rises linearly from WarmupStart at step 0 to Base at step
// WarmupSteps, then follows a half cosine from Base down to Final at step
// TotalSteps, and stays at Final after it.
type WarmupCosine struct {
	Base, Final, WarmupStart float64
	WarmupSteps, TotalSteps  int
}

// LR returns the learning rate at step.
func (s WarmupCosine) LR(step int) float64 {
	if step < 0 {
		step = 0
	}
	if step < s.WarmupSteps {
		return s.WarmupStart + (s.Base-s.WarmupStart)*float64(step)/float64(s.WarmupSteps)
	}
	if step >= s.TotalSteps {
		if s.TotalSteps <= s.WarmupSteps {
			return s.Base
		}
		return s.Final
	}
	t := float64(step-s.WarmupSteps) / float64(s.TotalSteps-s.WarmupSteps)
	return s.Final + (s.Base-s.Final)*0.5*(1+math.Cos(math.Pi*t))
}

// StepDecay multiplies Base by Gamma at each milestone, as
// torch.optim.lr_scheduler.MultiStepLR: the rate at step is
// Base * Gamma^(number of milestones <= step).
type StepDecay struct {
	Base       float64
	Milestones []int
	Gamma      float64
}

// LR returns the learning rate at step.
func (s StepDecay) LR(step int) float64 {
	lr := s.Base
	for _, m := range s.Milestones {
		if step >= m {
			lr *= s.Gamma
		}
	}
	return lr
}
