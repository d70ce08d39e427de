#!/usr/bin/env python3
"""Writes a generated colour task in CIFAR-10's binary layout, for tests/onnx-check/run.sh.

Each 32x32 image is grey noise with a coloured square at a random place; its class is the square's
colour, one of ten whose lumas are close (105 to 128), so a model must see colour to tell them apart
(the construction of tests/SharpCnn.Tests/Data/ColourTask.cs). The folder gets data_batch_1.bin ...
data_batch_5.bin (1,000 images each), test_batch.bin (1,000) and batches.meta.txt, each record one
label byte and then the red, green and blue planes, 1,024 bytes each.

Usage: make_colour_task.py FOLDER
"""
import os
import random
import sys

COLOURS = [(220, 60, 60), (40, 160, 40), (80, 110, 250), (150, 150, 20), (20, 150, 150),
           (200, 60, 200), (230, 100, 20), (120, 90, 200), (120, 120, 120), (160, 100, 60)]
NAMES = ["red", "green", "blue", "olive", "teal", "magenta", "orange", "violet", "grey", "brown"]
SIZE, SQUARE = 32, 10


def record(rng):
    label = rng.randrange(10)
    planes = [bytearray(SIZE * SIZE) for _ in range(3)]
    for p in range(SIZE * SIZE):
        grey = rng.randrange(110)
        for plane in planes:
            plane[p] = grey
    top, left = rng.randrange(SIZE - SQUARE + 1), rng.randrange(SIZE - SQUARE + 1)
    for y in range(top, top + SQUARE):
        for x in range(left, left + SQUARE):
            jitter = rng.randrange(21) - 10
            for c in range(3):
                planes[c][y * SIZE + x] = max(0, min(255, COLOURS[label][c] + jitter))
    return bytes([label]) + bytes(planes[0]) + bytes(planes[1]) + bytes(planes[2])


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(20261203)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        with open(os.path.join(folder, name), "wb") as f:
            for _ in range(1000):
                f.write(record(rng))
    with open(os.path.join(folder, "batches.meta.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n")
    print(f"wrote {folder}: a colour task of 5,000 training and 1,000 test images in CIFAR-10's layout")


if __name__ == "__main__":
    main()
