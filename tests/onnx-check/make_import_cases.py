#!/usr/bin/python3
"""Writes ONNX models that exercise what `sharpcnn import-onnx` must read exactly, built with
the onnx package's helpers (Debian's python3-onnx) rather than by SharpCnn, so that ONNX
Runtime can then judge the import: run.sh imports each model, has SharpCnn compute it on
test images, and check.mjs runs the original model in ONNX Runtime on the same images.

    /usr/bin/python3 tests/onnx-check/make_import_cases.py OUT_DIR

Every model takes [N, 1, 28, 28] and ends in [N, 10] (Softmax where the name says so).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(2024)


def weights(name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def ints(name, *values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def save(name, nodes, initializers, opset=13, softmax=True):
    if softmax:
        nodes = nodes + [helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
        output = "probabilities"
    else:
        output = "logits"
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 10])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_import_cases.py")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(out, name + ".onnx"))
    print(f"wrote {name}.onnx ({'probabilities' if softmax else 'logits'})")


# Pooling edges: AveragePool counting its end pads (= SharpCnn 'pad' mode), MaxPool with end pads
# and a zero floor (= 'pad' mode over zero padding), ceil_mode without partial windows, SAME_LOWER conv.
floor = np.full((1, 1, 3, 3), -np.inf, dtype=np.float32)
floor[:, :, 2, :] = 0
floor[:, :, :, 2] = 0
save("pool-edges", [
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[4, 4], auto_pad="SAME_LOWER", strides=[3, 3]),
    helper.make_node("Tanh", ["c1"], ["t1"]),
    helper.make_node("AveragePool", ["t1"], ["a1"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
    helper.make_node("MaxPool", ["a1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]),
    helper.make_node("Max", ["m1", "floor"], ["m2"]),
    helper.make_node("MaxPool", ["m2"], ["m3"], kernel_shape=[1, 1], strides=[1, 1], ceil_mode=1),
    helper.make_node("Flatten", ["m3"], ["f"], axis=1),
    helper.make_node("Gemm", ["f", "g", "gb"], ["logits"], transB=1),
], [weights("w1", 5, 1, 4, 4), weights("b1", 5), numpy_helper.from_array(floor, "floor"), weights("g", 10, 45), weights("gb", 10)])

# Zero Pad merged into the next Conv and pooling; grouped conv; Gemm without transpose, with alpha and beta.
save("pad-group-gemm", [
    helper.make_node("Pad", ["image", "pads1"], ["p1"], mode="constant"),
    helper.make_node("Conv", ["p1", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 0, 0, 1]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], group=2, strides=[2, 2]),
    helper.make_node("Sigmoid", ["c2"], ["s2"]),
    helper.make_node("Pad", ["s2", "pads2"], ["p2"], mode="constant"),
    helper.make_node("AveragePool", ["p2"], ["a2"], kernel_shape=[3, 3], strides=[3, 3]),
    helper.make_node("Flatten", ["a2"], ["f"]),
    helper.make_node("Gemm", ["f", "g", "gb"], ["logits"], alpha=0.75, beta=-1.5),
], [ints("pads1", 0, 0, 2, 1, 0, 0, 0, 1), weights("w1", 4, 1, 3, 3), weights("w2", 6, 2, 3, 3), weights("b2", 6),
    ints("pads2", 0, 0, 0, 0, 0, 0, 1, 1), weights("g", 6 * 5 * 5, 10, scale=0.2), weights("gb", 10)], softmax=False)

# Constant node as Reshape's shape, MatMul + Add, Dropout and Identity at inference, opset 12.
save("reshape-matmul", [
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[5, 5], strides=[2, 2]),
    helper.make_node("Identity", ["c1"], ["i1"]),
    helper.make_node("MaxPool", ["i1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], dtype=np.int64))),
    helper.make_node("Reshape", ["m1", "shape"], ["v"]),
    helper.make_node("MatMul", ["v", "w2"], ["h"]),
    helper.make_node("Add", ["h", "b2"], ["hb"]),
    helper.make_node("Dropout", ["hb", "ratio"], ["d"]),
    helper.make_node("Tanh", ["d"], ["t"]),
    helper.make_node("Gemm", ["t", "g", "gb"], ["logits"], transB=1),
], [weights("w1", 3, 1, 5, 5), weights("b1", 3), weights("w2", 3 * 6 * 6, 16), weights("b2", 1, 16),
    numpy_helper.from_array(np.array(0.5, dtype=np.float32), "ratio"), weights("g", 10, 16), weights("gb", 10)], opset=12)

# Batch normalisation as PyTorch writes it unfolded, opset 15: BatchNormalization after a Conv (per channel;
# epsilon 1e-3 and momentum 0.99 given, training_mode 0 spelled out) and after a Gemm on [N, D] (per feature,
# the defaults), with running statistics far from 0 and 1; Dropout with its ratio and training_mode inputs.
def batchnorm_inputs(prefix, c, mean_shift):
    return [numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), prefix + "_scale"),
            numpy_helper.from_array(rng.uniform(-0.5, 0.5, c).astype(np.float32), prefix + "_bias"),
            numpy_helper.from_array((rng.standard_normal(c) * 0.3 + mean_shift).astype(np.float32), prefix + "_mean"),
            numpy_helper.from_array(rng.uniform(0.05, 2.0, c).astype(np.float32), prefix + "_var")]


save("batchnorm", [
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[5, 5]),
    helper.make_node("BatchNormalization", ["c1", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"], ["n1"],
                     epsilon=1e-3, momentum=0.99, training_mode=0),
    helper.make_node("Relu", ["n1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Dropout", ["m1", "ratio", "training"], ["d1"]),
    helper.make_node("Flatten", ["d1"], ["f"]),
    helper.make_node("Gemm", ["f", "g1", "gb1"], ["h"], transB=1),
    helper.make_node("BatchNormalization", ["h", "bn2_scale", "bn2_bias", "bn2_mean", "bn2_var"], ["n2"]),
    helper.make_node("Tanh", ["n2"], ["t"]),
    helper.make_node("Gemm", ["t", "g2", "gb2"], ["logits"], transB=1),
], [weights("w1", 4, 1, 5, 5), weights("b1", 4), *batchnorm_inputs("bn1", 4, 0.2),
    numpy_helper.from_array(np.array(0.3, dtype=np.float32), "ratio"), numpy_helper.from_array(np.array(False), "training"),
    weights("g1", 24, 4 * 12 * 12, scale=0.05), weights("gb1", 24), *batchnorm_inputs("bn2", 24, -0.5),
    weights("g2", 10, 24), weights("gb2", 10)], opset=15)
