#!/usr/bin/python3
"""The seed CNN (or the Fashion-MNIST recipe's model) in PyTorch, measured exactly as `sharpcnn bench` measures SharpCnn.

Same network (conv5x5x32 same, ReLU, max-pool 2, conv5x5x64 same, ReLU, max-pool 2, flatten,
dense 1024, ReLU, dense 10, softmax cross-entropy; with --model recipe, SharpCnn's
ExperimentCatalog.FashionSpec: batch norm after both convolutions and the 1,024-unit layer, dropout
0.1 / 0.25 / 0.5), same optimiser (Adam, lr 0.001; --optimizer sgd: plain SGD, lr 0.01; --optimizer
momentum: SGD with momentum 0.9, lr 0.05, weight decay 5e-4 on the convolution and dense weights only,
as SharpCnn decays only weights), same data
(the bundled MNIST digits in data/mnist-10k, kept as bytes and converted per batch to pixel/255),
same timing (a warm-up of at least 3 steps, then the best of --rounds rounds of --seconds each; for the
1 -> N thread scaling the N-thread and 1-thread rounds alternate).

Prints `measure<TAB>value<TAB>unit` lines with the same measure names as `sharpcnn bench --tsv`.
Run it through bench/compare-pytorch.sh, which configures PyTorch at its best (OpenBLAS with
OpenMP ahead of the reference BLAS, OPENBLAS_CORETYPE) and uses Debian's /usr/bin/python3.
"""
import argparse
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_idx(path):
    """An IDX file (gzip or raw) as a numpy array of unsigned bytes."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_training_set(folder):
    images = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"))
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def seed_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 1024), nn.ReLU(), nn.Linear(1024, 10))


def recipe_cnn():
    """SharpCnn's Fashion-MNIST recipe model (ExperimentCatalog.FashionSpec); batch norm as SharpCnn's: eps 1e-5, momentum 0.1."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.1),
        nn.Conv2d(32, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


class Runner:
    """The network, its optimiser and the data, stepping through shuffled batches like SharpCnn's bench."""

    def __init__(self, images, labels, seed=1, optimizer="adam", model="seed"):
        torch.manual_seed(seed)
        self.images, self.labels = images, labels
        self.model = recipe_cnn() if model == "recipe" else seed_cnn()
        if optimizer == "sgd":  # plain SGD, as `sharpcnn bench --optimizer sgd`: no momentum
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0)
        elif optimizer == "momentum":  # as `sharpcnn bench --optimizer momentum`: weight decay on weights only
            weights = [m.weight for m in self.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            others = [p for p in self.model.parameters() if all(p is not w for w in weights)]
            self.optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 5e-4}, {"params": others, "weight_decay": 0}],
                                             lr=0.05, momentum=0.9)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)
        self.order = torch.randperm(len(images))
        self.position = 0

    def batch(self, n):
        if self.position + n > len(self.order):
            self.position = 0
        index = self.order[self.position:self.position + n]
        self.position += n
        return self.images[index].float().div_(255), self.labels[index]

    def train_step(self, n):
        x, y = self.batch(n)
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()

    def infer_step(self, n):
        x, _ = self.batch(n)
        with torch.inference_mode():
            self.model(x)

    def epoch(self, n):
        self.model.train()
        order = torch.randperm(len(self.images))
        for start in range(0, len(order), n):
            index = order[start:start + n]
            x, y = self.images[index].float().div_(255), self.labels[index]
            self.optimizer.zero_grad()
            F.cross_entropy(self.model(x), y).backward()
            self.optimizer.step()
        return len(order)


def warm_up(step, n, seconds):
    warm = time.perf_counter()
    i = 0
    while i < 3 or time.perf_counter() - warm < min(1.0, seconds / 2):
        step(n)
        i += 1


def one_round(step, n, seconds):
    count, start = 0, time.perf_counter()
    while True:
        step(n)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count * n / elapsed


def best_rate(step, n, seconds, rounds):
    warm_up(step, n, seconds)
    return max(one_round(step, n, seconds) for _ in range(rounds))


def best_rates_alternating(step, n, seconds, rounds, threads):
    """The best round on `threads` threads and on 1, the rounds alternating (as `sharpcnn bench` measures scaling)."""
    for count in (threads, 1):
        torch.set_num_threads(count)
        warm_up(step, n, seconds)
    many = one = 0.0
    for _ in range(rounds):
        torch.set_num_threads(threads)
        many = max(many, one_round(step, n, seconds))
        torch.set_num_threads(1)
        one = max(one, one_round(step, n, seconds))
    torch.set_num_threads(threads)
    return many, one


def report(key, value, unit):
    print(f"{key}\t{value!r}\t{unit}", flush=True)


def blas_in_use():
    """Which BLAS library this process has loaded (after a matrix product)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    return ", ".join(sorted(names)) or "none found"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="train64,train1,infer256,scaling")
    parser.add_argument("--optimizer", choices=["adam", "sgd", "momentum"], default="adam")
    parser.add_argument("--model", choices=["seed", "recipe"], default="seed")
    parser.add_argument("--batch", type=int, default=64, help="the batch of the train64 and scaling measures and of --epoch-data")
    parser.add_argument("--data", default=os.path.join(here, "..", "data", "mnist-10k"))
    parser.add_argument("--epoch-data", help="instead: train one full epoch (batch --batch) on this IDX folder, report samples/s and peak RSS")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.is_available()}, "
          f"BLAS {blas_in_use()}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')}", file=sys.stderr)

    if args.epoch_data:
        images, labels = load_training_set(args.epoch_data)
        runner = Runner(images, labels, optimizer=args.optimizer, model=args.model)
        start = time.perf_counter()
        samples = runner.epoch(args.batch)
        elapsed = time.perf_counter() - start
        report("epoch_samples", samples, "samples")
        report("epoch_rate", samples / elapsed, "samples/s")
        report("peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "MiB")
        return

    images, labels = load_training_set(args.data)
    runner = Runner(images, labels, optimizer=args.optimizer, model=args.model)
    b = args.batch
    measures = args.only.split(",")
    train_n = train_one = None
    if "train64" in measures or "scaling" in measures:
        runner.model.train()
        if "scaling" in measures:
            train_n, train_one = best_rates_alternating(runner.train_step, b, args.seconds, args.rounds, args.threads)
        else:
            train_n = best_rate(runner.train_step, b, args.seconds, args.rounds)
        report(f"train_b{b}", train_n, "samples/s")
    if "train1" in measures:
        runner.model.train()
        report("train_b1", best_rate(runner.train_step, 1, args.seconds, args.rounds), "samples/s")
    if "infer256" in measures:
        runner.model.eval()
        report("infer_b256", best_rate(runner.infer_step, 256, args.seconds, args.rounds), "samples/s")
        runner.model.train()
    if "scaling" in measures:
        report(f"train_b{b}_1thread", train_one, "samples/s")
        report("scaling", train_n / train_one, "x")
    report("peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "MiB")


if __name__ == "__main__":
    main()
