// A labelled set of images held as bytes: the pixels of image i are C * Rows * Cols bytes at
// i * C * Rows * Cols, channel-planar (all of channel 0 row-major, then channel 1, ...), and its
// label is one byte < Classes. Batches are served as T = pixel / 255 in NCHW layout without allocating.

using System.Numerics;
using SharpCnn.Tensors;

namespace SharpCnn.Data;

/// <summary>
/// Labelled images (count x channels x rows x cols bytes, C = 1 for grey, 3 for RGB) with labels below
/// <see cref="Classes"/> and, optionally, the classes' names.
/// </summary>
public sealed class ImageDataSet
{
    private readonly ReadOnlyMemory<byte> _pixels;
    private readonly ReadOnlyMemory<byte> _labels;
    private readonly string[]? _classNames;

    /// <summary>
    /// Creates a single-channel data set from copies of <paramref name="pixels"/> (count x rows x cols, row-major)
    /// and <paramref name="labels"/> (count bytes, each below <paramref name="classes"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of range.</exception>
    public ImageDataSet(ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels, int rows, int cols, int classes = 10)
        : this(pixels, labels, new Shape(1, rows, cols), classes)
    {
    }

    /// <summary>
    /// Creates a data set from copies of <paramref name="pixels"/> (count x C x H x W bytes, channel-planar, for
    /// <paramref name="shape"/> = C x H x W) and <paramref name="labels"/> (count bytes, each below <paramref name="classes"/>),
    /// with the classes' names when known (<paramref name="classNames"/>: one per class, by label).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is out of range, or the names do not fit the classes.</exception>
    public ImageDataSet(ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels, Shape shape, int classes, IReadOnlyList<string>? classNames = null)
    {
        CheckShape(shape);
        CheckClasses(classes);
        if ((long)labels.Length * shape.Size != pixels.Length)
            throw new ArgumentException($"{labels.Length} labels need {(long)labels.Length * shape.Size} pixels of {shape}, found {pixels.Length}", nameof(pixels));
        int bad = FirstLabelNotBelow(labels, classes);
        if (bad >= 0)
            throw new ArgumentException($"label {labels[bad]} of image {bad} is not below the class count {classes}", nameof(labels));
        (_pixels, _labels, Channels, Rows, Cols, Classes) = (pixels.ToArray(), labels.ToArray(), shape.Channels, shape.Height, shape.Width, classes);
        _classNames = CheckNames(classNames, classes);
    }

    private ImageDataSet(ReadOnlyMemory<byte> pixels, ReadOnlyMemory<byte> labels, Shape shape, int classes, string[]? classNames) =>
        (_pixels, _labels, Channels, Rows, Cols, Classes, _classNames) = (pixels, labels, shape.Channels, shape.Height, shape.Width, classes, classNames);

    /// <summary>
    /// A data set over <paramref name="pixels"/> and <paramref name="labels"/> as they are, without copying: the
    /// loaders' way to hand over arrays they filled (the caller must not change them afterwards).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is out of range, or the names do not fit the classes.</exception>
    internal static ImageDataSet Adopt(byte[] pixels, byte[] labels, Shape shape, int classes, IReadOnlyList<string>? classNames)
    {
        CheckShape(shape);
        CheckClasses(classes);
        if ((long)labels.Length * shape.Size != pixels.Length)
            throw new ArgumentException($"{labels.Length} labels need {(long)labels.Length * shape.Size} pixels of {shape}, found {pixels.Length}", nameof(pixels));
        int bad = FirstLabelNotBelow(labels, classes);
        if (bad >= 0)
            throw new ArgumentException($"label {labels[bad]} of image {bad} is not below the class count {classes}", nameof(labels));
        return new ImageDataSet((ReadOnlyMemory<byte>)pixels, (ReadOnlyMemory<byte>)labels, shape, classes, CheckNames(classNames, classes));
    }

    /// <summary>Number of images.</summary>
    public int Count => _labels.Length;

    /// <summary>Channels per image: 1 (grey) or 3 (red, green, blue planes).</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Rows { get; }

    /// <summary>Image width in pixels.</summary>
    public int Cols { get; }

    /// <summary>Number of classes; every label is below it.</summary>
    public int Classes { get; }

    /// <summary>Shape of one sample: <see cref="Channels"/> x <see cref="Rows"/> x <see cref="Cols"/>.</summary>
    public Shape Shape => new(Channels, Rows, Cols);

    /// <summary>The classes' names by label (folder names, CIFAR's label names), or null when the data do not name them.</summary>
    public IReadOnlyList<string>? ClassNames => _classNames;

    /// <summary>The <see cref="Channels"/> x <see cref="Rows"/> x <see cref="Cols"/> pixel bytes of image <paramref name="index"/>, channel-planar and row-major.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        int size = Shape.Size;
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
    /// NCHW (image k at k * C * Rows * Cols), and their labels into <paramref name="labels"/>.
    /// Only the first indices.Length samples of each buffer are written. Allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside 0..Count-1.</exception>
    public void CopyBatch<T>(ReadOnlySpan<int> indices, Span<T> destination, Span<int> labels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = Shape.Size;
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
        int size = Shape.Size;
        return new ImageDataSet(_pixels.Slice(start * size, count * size), _labels.Slice(start, count), Shape, Classes, _classNames);
    }

    /// <summary>
    /// A 64-bit hash (XxHash64) of the image size, class count, labels and pixels: what a
    /// checkpoint records to recognise the data it was trained on. (The channel count joins the hash
    /// only when it is not 1, so single-channel data keep the fingerprints earlier checkpoints recorded.)
    /// </summary>
    public ulong Fingerprint()
    {
        var hash = new System.IO.Hashing.XxHash64();
        Span<byte> sizes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes, Rows);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[4..], Cols);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[8..], Classes);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[12..], Channels);
        hash.Append(Channels == 1 ? sizes[..12] : sizes);
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
        return new ImageDataSet((ReadOnlyMemory<byte>)images.Data, (ReadOnlyMemory<byte>)labels.Data, new Shape(1, images.Dimensions[1], images.Dimensions[2]), classes, null);
    }

    /// <summary>This data set with the classes' names (one per class, by label); shares the images.</summary>
    /// <exception cref="ArgumentException">The names do not fit the classes.</exception>
    public ImageDataSet WithClassNames(IReadOnlyList<string>? classNames) =>
        new(_pixels, _labels, Shape, Classes, CheckNames(classNames, Classes));

    /// <summary>
    /// The images at <paramref name="indices"/>, in that order, as a new data set (the pixels are copied, so
    /// the selection holds only what it needs).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside 0..Count-1.</exception>
    public ImageDataSet Select(ReadOnlySpan<int> indices)
    {
        int size = Shape.Size;
        var pixels = new byte[(long)indices.Length * size];
        var labels = new byte[indices.Length];
        ReadOnlySpan<byte> all = _pixels.Span;
        for (int k = 0; k < indices.Length; k++)
        {
            int index = indices[k];
            if ((uint)index >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"index {k} of the selection is {index}, outside 0..{Count - 1}");
            all.Slice(index * size, size).CopyTo(pixels.AsSpan(k * size, size));
            labels[k] = _labels.Span[index];
        }
        return new ImageDataSet((ReadOnlyMemory<byte>)pixels, (ReadOnlyMemory<byte>)labels, Shape, Classes, _classNames);
    }

    /// <summary>
    /// Splits off a validation set, stratified by class: of each class's n_c images, round(fraction · n_c)
    /// (half away from zero) go to validation, chosen by a shuffle seeded with <paramref name="seed"/>; both
    /// parts keep the images' original order. The same data, fraction and seed always give the same split.
    /// </summary>
    /// <param name="fraction">Share of each class held out, in (0, 1).</param>
    /// <param name="seed">Seed of the choice.</param>
    /// <returns>The images left for training and the validation images.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1).</exception>
    /// <exception cref="ArgumentException">Either part would be empty.</exception>
    public (ImageDataSet Train, ImageDataSet Validation) SplitValidation(double fraction, ulong seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the validation fraction must be above 0 and below 1");
        var byClass = new List<int>[Classes];
        for (int c = 0; c < Classes; c++) byClass[c] = [];
        ReadOnlySpan<byte> labels = _labels.Span;
        for (int i = 0; i < Count; i++) byClass[labels[i]].Add(i);
        var held = new bool[Count];
        var rng = new Rng(seed ^ 0x76616C6964617465UL); // "validate": a stream of its own, apart from the shuffling's
        int validation = 0;
        foreach (var members in byClass)
        {
            int[] order = [.. members];
            rng.Shuffle(order);
            int take = (int)Math.Round(fraction * order.Length, MidpointRounding.AwayFromZero);
            for (int k = 0; k < take; k++) held[order[k]] = true;
            validation += take;
        }
        if (validation == 0) throw new ArgumentException($"a validation fraction of {fraction} of {Count} images leaves no validation image; give a larger fraction", nameof(fraction));
        if (validation == Count) throw new ArgumentException($"a validation fraction of {fraction} of {Count} images leaves no training image; give a smaller fraction", nameof(fraction));
        var trainIndices = new int[Count - validation];
        var validationIndices = new int[validation];
        for (int i = 0, t = 0, v = 0; i < Count; i++)
        {
            if (held[i]) validationIndices[v++] = i;
            else trainIndices[t++] = i;
        }
        return (Select(trainIndices), Select(validationIndices));
    }

    /// <summary>
    /// Each channel's mean and standard deviation of pixel / 255 over every image (population standard
    /// deviation, as torchvision recipes and Keras's Normalization measure them): what a
    /// <see cref="Layers.Normalize{T}"/> layer is set to. Computed from exact integer sums of the bytes, so
    /// the result does not depend on the order or the thread count.
    /// </summary>
    /// <exception cref="InvalidOperationException">The data set is empty.</exception>
    public ChannelStatistics ChannelStatistics()
    {
        if (Count == 0) throw new InvalidOperationException("an empty data set has no statistics");
        int plane = Rows * Cols;
        var sums = new long[Channels];
        var squares = new UInt128[Channels];
        ReadOnlySpan<byte> pixels = _pixels.Span;
        for (int i = 0; i < Count; i++)
            for (int c = 0; c < Channels; c++)
            {
                long sum = 0, square = 0;
                foreach (byte b in pixels.Slice((i * Channels + c) * plane, plane))
                {
                    sum += b;
                    square += b * b;
                }
                sums[c] += sum;
                squares[c] += (UInt128)square;
            }
        var mean = new double[Channels];
        var std = new double[Channels];
        double count = (double)Count * plane;
        for (int c = 0; c < Channels; c++)
        {
            // Var = (n·Σx² - (Σx)²) / n², exact in integers up to the final division.
            UInt128 n = (UInt128)((long)Count * plane);
            UInt128 numerator = n * squares[c] - (UInt128)sums[c] * (UInt128)sums[c];
            mean[c] = sums[c] / count / 255.0;
            std[c] = Math.Sqrt((double)numerator / (count * count)) / 255.0;
        }
        return new ChannelStatistics(mean, std);
    }

    private static void CheckShape(Shape shape)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.Channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.Height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.Width, 1);
        if ((long)shape.Channels * shape.Height * shape.Width > int.MaxValue) throw new ArgumentException($"an image of {shape.Channels}x{shape.Height}x{shape.Width} is too large", nameof(shape));
    }

    private static string[]? CheckNames(IReadOnlyList<string>? names, int classes)
    {
        if (names is null) return null;
        if (names.Count != classes) throw new ArgumentException($"{names.Count} class names for {classes} classes; give one per class", nameof(names));
        for (int i = 0; i < names.Count; i++)
            if (string.IsNullOrWhiteSpace(names[i])) throw new ArgumentException($"the name of class {i} is empty", nameof(names));
        return [.. names];
    }

    private static void CheckClasses(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classes, 256);
    }

    private static int FirstLabelNotBelow(ReadOnlySpan<byte> labels, int classes) =>
        classes > byte.MaxValue ? -1 : labels.IndexOfAnyInRange((byte)classes, byte.MaxValue);
}

/// <summary>Each channel's mean and standard deviation of pixel / 255 (see <see cref="ImageDataSet.ChannelStatistics"/>).</summary>
/// <param name="Mean">One mean per channel.</param>
/// <param name="Std">One population standard deviation per channel.</param>
public sealed record ChannelStatistics(IReadOnlyList<double> Mean, IReadOnlyList<double> Std);
