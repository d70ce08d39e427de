// A labelled set of single-channel images held as bytes: the pixels of image i are
// Rows * Cols bytes at i * Rows * Cols, row-major, and its label is one byte < Classes.
// Batches are served as T = pixel / 255 in NCHW layout (C = 1) without allocating.

using System.Numerics;
using SharpCnn.Tensors;

namespace SharpCnn.Data;

/// <summary>Labelled grayscale images (count x rows x cols bytes) with labels below <see cref="Classes"/>.</summary>
public sealed class ImageDataSet
{
    private readonly ReadOnlyMemory<byte> _pixels;
    private readonly ReadOnlyMemory<byte> _labels;

    /// <summary>
    /// Creates a data set from copies of <paramref name="pixels"/> (count x rows x cols, row-major)
    /// and <paramref name="labels"/> (count bytes, each below <paramref name="classes"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of range.</exception>
    public ImageDataSet(ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels, int rows, int cols, int classes = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        CheckClasses(classes);
        if ((long)labels.Length * rows * cols != pixels.Length)
            throw new ArgumentException($"{labels.Length} labels need {(long)labels.Length * rows * cols} pixels of {rows}x{cols}, found {pixels.Length}", nameof(pixels));
        int bad = FirstLabelNotBelow(labels, classes);
        if (bad >= 0)
            throw new ArgumentException($"label {labels[bad]} of image {bad} is not below the class count {classes}", nameof(labels));
        (_pixels, _labels, Rows, Cols, Classes) = (pixels.ToArray(), labels.ToArray(), rows, cols, classes);
    }

    private ImageDataSet(ReadOnlyMemory<byte> pixels, ReadOnlyMemory<byte> labels, int rows, int cols, int classes) =>
        (_pixels, _labels, Rows, Cols, Classes) = (pixels, labels, rows, cols, classes);

    /// <summary>Number of images.</summary>
    public int Count => _labels.Length;

    /// <summary>Image height in pixels.</summary>
    public int Rows { get; }

    /// <summary>Image width in pixels.</summary>
    public int Cols { get; }

    /// <summary>Number of classes; every label is below it.</summary>
    public int Classes { get; }

    /// <summary>Shape of one sample: 1 x <see cref="Rows"/> x <see cref="Cols"/>.</summary>
    public Shape Shape => new(1, Rows, Cols);

    /// <summary>The <see cref="Rows"/> x <see cref="Cols"/> pixel bytes of image <paramref name="index"/>, row-major.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        int size = Rows * Cols;
        return _pixels.Span.Slice(index * size, size);
    }

    /// <summary>The label of image <paramref name="index"/>.</summary>
    public int Label(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        return _labels.Span[index];
    }

    /// <summary>All labels, one byte per image.</summary>
    public ReadOnlySpan<byte> Labels => _labels.Span;

    /// <summary>
    /// Copies the images at <paramref name="indices"/> into <paramref name="destination"/> as pixel / 255,
    /// NCHW with C = 1 (image k at k * Rows * Cols), and their labels into <paramref name="labels"/>.
    /// Only the first indices.Length samples of each buffer are written. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside 0..Count-1.</exception>
    public void CopyBatch<T>(ReadOnlySpan<int> indices, Span<T> destination, Span<int> labels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = Rows * Cols;
        if ((long)indices.Length * size > destination.Length)
            throw new ArgumentException($"{indices.Length} images of {Shape} need {(long)indices.Length * size} values, destination has {destination.Length}", nameof(destination));
        if (indices.Length > labels.Length)
            throw new ArgumentException($"{indices.Length} images need {indices.Length} labels, buffer has {labels.Length}", nameof(labels));

        ReadOnlySpan<T> table = PixelScale<T>.Table;
        ReadOnlySpan<byte> pixels = _pixels.Span;
        ReadOnlySpan<byte> allLabels = _labels.Span;
        for (int k = 0; k < indices.Length; k++)
        {
            int index = indices[k];
            if ((uint)index >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"index {k} of the batch is {index}, outside 0..{Count - 1}");
            ReadOnlySpan<byte> image = pixels.Slice(index * size, size);
            Span<T> target = destination.Slice(k * size, size);
            for (int p = 0; p < image.Length; p++) target[p] = table[image[p]];
            labels[k] = allLabels[index];
        }
    }

    /// <summary>The <paramref name="count"/> images from <paramref name="start"/> on; shares the data, copies nothing.</summary>
    public ImageDataSet Subset(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, Count, nameof(count));
        int size = Rows * Cols;
        return new ImageDataSet(_pixels.Slice(start * size, count * size), _labels.Slice(start, count), Rows, Cols, Classes);
    }

    /// <summary>
    /// A 64-bit hash (XxHash64) of the image size, class count, labels and pixels: what a
    /// checkpoint records to recognise the data it was trained on.
    /// </summary>
    public ulong Fingerprint()
    {
        var hash = new System.IO.Hashing.XxHash64();
        Span<byte> sizes = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes, Rows);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[4..], Cols);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[8..], Classes);
        hash.Append(sizes);
        hash.Append(_labels.Span);
        hash.Append(_pixels.Span);
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The first <paramref name="count"/> images (all of them if there are fewer).</summary>
    public ImageDataSet Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Subset(0, Math.Min(count, Count));
    }

    /// <summary>Loads an images file (3 dimensions) and a labels file (1 dimension), each gzip or raw IDX.</summary>
    /// <exception cref="FileFormatException">A file is malformed, the counts differ or a label is not below <paramref name="classes"/>.</exception>
    public static ImageDataSet Load(string imagesPath, string labelsPath, int classes = 10) =>
        FromIdx(IdxReader.Read(imagesPath, 3), IdxReader.Read(labelsPath, 1), classes);

    /// <summary>Builds a data set from an images array (count x rows x cols) and a labels array (count), both read by <see cref="IdxReader"/>.</summary>
    /// <exception cref="FileFormatException">The shapes do not fit, the counts differ or a label is not below <paramref name="classes"/>.</exception>
    public static ImageDataSet FromIdx(IdxArray images, IdxArray labels, int classes = 10)
    {
        CheckClasses(classes);
        if (images.Dimensions.Count != 3)
            throw new FileFormatException(images.Name, 3, $"expected 3 dimensions (count, rows, cols), found {images.Dimensions.Count}");
        if (labels.Dimensions.Count != 1)
            throw new FileFormatException(labels.Name, 3, $"expected 1 dimension (count), found {labels.Dimensions.Count}");
        int count = images.Dimensions[0];
        if (labels.Dimensions[0] != count)
            throw new FileFormatException(labels.Name, 4, $"expected {count} labels, one per image of {images.Name}, found {labels.Dimensions[0]}");
        int bad = FirstLabelNotBelow(labels.Data, classes);
        if (bad >= 0)
            throw new FileFormatException(labels.Name, labels.DataOffset + bad, $"expected labels below {classes} (the class count), found {labels.Data[bad]} for item {bad}");
        // The reader's arrays are ours alone: keep them instead of copying (a full Fashion-MNIST training set is
        // 47 MB; a copy would double the peak memory of loading it). IdxReader already checked count x rows x cols.
        return new ImageDataSet((ReadOnlyMemory<byte>)images.Data, (ReadOnlyMemory<byte>)labels.Data, images.Dimensions[1], images.Dimensions[2], classes);
    }

    private static void CheckClasses(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, 256);
    }

    private static int FirstLabelNotBelow(ReadOnlySpan<byte> labels, int classes) =>
        classes > byte.MaxValue ? -1 : labels.IndexOfAnyInRange((byte)classes, byte.MaxValue);
}
