#!/usr/bin/python3
"""Writes the PyTorch-exported ONNX fixtures that OnnxPyTorchTests import.

Run with Debian's Python (it sees Debian's python3-torch):
    /usr/bin/python3 tests/SharpCnn.Tests/Io/Onnx/Fixtures/make_pytorch_fixtures.py

For each network it writes NAME.onnx (torch.onnx.export, dynamic batch) and NAME.json:
the inputs, PyTorch's outputs in float32 (the exported model as it is) and in float64 (the
same float32 weights, computed in double), and how the model was made.
Weights come from fixed seeds, so re-running gives the same files on the same PyTorch.
"""
import json
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class LeNetLike(nn.Module):
    """Conv, ReLU, MaxPool, Conv, Tanh, AveragePool, Flatten, Gemm x3, Sigmoid, Softmax."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10), nn.Softmax(dim=1))

    def forward(self, x):
        return self.body(x)


class Variants(nn.Module):
    """Strided padded Conv, grouped Conv, MaxPool, view(-1, n) as Reshape, matmul + bias as MatMul + Add; logits out."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, groups=2)
        self.pool = nn.MaxPool2d(2)
        self.w = nn.Parameter(torch.randn(8 * 6 * 6, 32) * 0.1)
        self.b = nn.Parameter(torch.randn(32) * 0.1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.tanh(self.conv2(x)))
        x = x.view(-1, 8 * 6 * 6)
        x = torch.sigmoid(torch.matmul(x, self.w) + self.b)
        return self.fc(x)


class BatchNorms(nn.Module):
    """Conv, BatchNorm2d (eps 1e-3, momentum 0.01), ReLU, MaxPool, Dropout (which an eval-mode export leaves out), Flatten, Linear, BatchNorm1d, ReLU, Linear, Softmax."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(6 * 12 * 12, 32), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Linear(32, 10), nn.Softmax(dim=1))
        # Running statistics and affine parameters far from their initial 0, 1, 1, 0: a few training-mode
        # passes over shifted, scaled inputs, then random scales and shifts.
        self.train()
        with torch.no_grad():
            for _ in range(20):
                self(torch.rand(32, 1, 28, 28) * 3 + 2)
            for bn in (self.body[1], self.body[7]):
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.body(x)


def write(name, model, opset, seed, unfolded=False):
    model.eval()
    torch.manual_seed(seed + 1000)
    inputs = torch.rand(5, 1, 28, 28)
    path = os.path.join(HERE, name + ".onnx")
    # In eval mode torch.onnx.export folds a BatchNorm2d into the Conv before it; TrainingMode.PRESERVE
    # (the model is in eval mode, so inference) without constant folding keeps the BatchNormalization node.
    extra = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False) if unfolded else {}
    torch.onnx.export(model, inputs, path, opset_version=opset,
                      input_names=["image"], output_names=["output"],
                      dynamic_axes={"image": {0: "batch"}, "output": {0: "batch"}}, **extra)
    with torch.no_grad():
        single = model(inputs)
        double = model.double()(inputs.double())
    document = {
        "model": name + ".onnx",
        "made_by": f"make_pytorch_fixtures.py with torch {torch.__version__}, opset {opset}, weights from torch.manual_seed({seed})"
                   + (", exported with training=TrainingMode.PRESERVE, do_constant_folding=False (BatchNormalization not folded into the Conv)" if unfolded else ""),
        "network": model.__class__.__doc__,
        "inputs": inputs.reshape(5, -1).tolist(),
        "float32": single.tolist(),
        "float64": double.tolist(),
    }
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(document, f)
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and {name}.json")


torch.manual_seed(6)
write("pytorch-lenet", LeNetLike(), 13, 6)
torch.manual_seed(11)
write("pytorch-variants", Variants(), 11, 11)
torch.manual_seed(15)
write("pytorch-batchnorm", BatchNorms(), 15, 15, unfolded=True)
