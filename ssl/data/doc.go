// Package data reads the image data sets of the project (Fashion-MNIST and MNIST
// IDX files, CIFAR-10/100 and STL-10 binaries, image folders and Tiny ImageNet),
// turns images into augmented float32 views with torchvision's semantics, and
// feeds them to training through a seeded, parallel, resumable Loader.
//
// Every random choice is drawn from a *rand.Rand that the caller passes in; the
// Loader derives one generator per sample from (seed, epoch, index, view), so a
// run is reproducible whatever the number of workers.
package data
