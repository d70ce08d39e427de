#!/usr/bin/python3
"""Writes the sample PNG digits in this folder from the bundled MNIST test digits.

Each file is one test image saved by Pillow (an encoder independent of SharpCnn's) in a
different PNG colour type, bit depth or size, so that `sharpcnn predict` and the PNG reader's
tests see the variety of files people have. The file name starts with the true label. The
digits were picked as clear, typical ones (the first test images of 0 and 4 are odd shapes
that small models misread, so later ones are used).
Run from the repository root with Debian's python3 and python3-pil:

    /usr/bin/python3 samples/digits/make-digits.py
"""
import gzip
import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
pixels = gzip.open(os.path.join(ROOT, "data/mnist-10k/t10k-images-idx3-ubyte.gz")).read()[16:]
labels = gzip.open(os.path.join(ROOT, "data/mnist-10k/t10k-labels-idx1-ubyte.gz")).read()[8:]


def digit(index):
    """Test image `index` as a 28x28 grey Pillow image (white digit on black) and its label."""
    return Image.frombytes("L", (28, 28), pixels[784 * index: 784 * (index + 1)]), labels[index]


def save(image, label, kind, **options):
    path = os.path.join(HERE, f"{label}-{kind}.png")
    image.save(path, optimize=False, **options)
    print(path, image.mode, image.size)


# 8-bit grey, as MNIST itself.
image, label = digit(2)
save(image, label, "grey")

# 8-bit RGB: a yellow digit on navy blue (brightness order kept, so no --invert).
image, label = digit(4)
yellow, navy = (255, 220, 40), (10, 20, 70)
rgb = Image.merge("RGB", [image.point(lambda v, lo=lo, hi=hi: lo + (hi - lo) * v // 255) for lo, hi in zip(navy, yellow)])
save(rgb, label, "rgb")

# 8-bit palette (PLTE with 256 grey entries).
image, label = digit(8)
save(image.convert("P"), label, "palette")

# 4-bit palette: 16 grey levels.
image, label = digit(5)
quantized = image.point(lambda v: v // 17)
palette_image = Image.new("P", (28, 28))
palette_image.putpalette([c for i in range(16) for c in (17 * i, 17 * i, 17 * i)])
palette_image.putdata(list(quantized.getdata()))
save(palette_image, label, "palette4", bits=4)

# Grey + alpha, enlarged to 56x56 (predict resizes it back).
image, label = digit(9)
big = image.resize((56, 56), Image.BILINEAR)
save(Image.merge("LA", [big, Image.new("L", big.size, 255)]), label, "grey-alpha-56px")

# RGBA: a black digit on a transparent background (shown on white paper: needs --invert).
image, label = digit(19)
rgba = Image.merge("RGBA", [Image.new("L", (28, 28), 0)] * 3 + [image])
save(rgba, label, "rgba-dark-on-transparent")

# 16-bit grey: a dark digit on white paper, 84x84 (needs --invert).
image, label = digit(13)
paper = image.point(lambda v: 255 - v).resize((84, 84), Image.BICUBIC)
save(paper.point(lambda v: v * 257, mode="I").convert("I;16"), label, "grey16-dark-on-white-84px")
