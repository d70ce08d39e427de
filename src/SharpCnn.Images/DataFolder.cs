using SharpCnn.Data;
using SharpCnn.Tensors;

namespace SharpCnn.Images;

/// <summary>What a data folder holds, as <see cref="DataFolder.Detect"/> tells it from the files.</summary>
public enum DataSourceKind
{
    /// <summary>No folder: the 10,000 MNIST digits bundled with SharpCnn.</summary>
    Bundled,

    /// <summary>MNIST-format IDX files (train-/t10k- images and labels, gzip or raw).</summary>
    Idx,

    /// <summary>CIFAR-10's binary version (data_batch_1.bin ... test_batch.bin).</summary>
    Cifar10,

    /// <summary>CIFAR-100's binary version (train.bin, test.bin).</summary>
    Cifar100,

    /// <summary>An image folder: one subfolder of JPEG/PNG/WebP/BMP/GIF files per class.</summary>
    ImageFolder,
}

/// <summary>Which sets to load.</summary>
public enum DataParts
{
    /// <summary>Training (and validation) and test.</summary>
    All,

    /// <summary>Only the test set (for evaluation).</summary>
    Test,
}

/// <summary>Data sets loaded from a <see cref="DataSelection"/>, and what loading them did.</summary>
/// <param name="Kind">What the source held.</param>
/// <param name="Label">How reports name the data (the folder, or "bundled MNIST digits").</param>
/// <param name="Train">The training images (after the limit and the validation split); null when only the test set was asked for.</param>
/// <param name="Validation">The validation images split off the training set, or null.</param>
/// <param name="Test">The test images, or null when the source has none (an image folder without <c>test/</c>).</param>
/// <param name="Skipped">Image files that did not decode and were skipped.</param>
/// <param name="Converted">Images whose channels were converted to the data set's.</param>
/// <param name="Resized">Images resized on load.</param>
public sealed record LoadedData(DataSourceKind Kind, string Label, ImageDataSet? Train, ImageDataSet? Validation, ImageDataSet? Test,
    IReadOnlyList<UnreadableImage> Skipped, int Converted, int Resized);

/// <summary>
/// Loads the data a <see cref="DataSelection"/> names, whatever its source holds: detected from the files
/// (<see cref="Detect"/>), read by the matching reader, shaped (size and channels), limited, and split into
/// training and validation sets.
/// </summary>
public static class DataFolder
{
    /// <summary>
    /// What <paramref name="folder"/> holds: MNIST-format IDX files, CIFAR-10 or CIFAR-100 binary files (in it or
    /// in the archive's own subfolder), or an image folder, looked for in that order.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds none of these; the message says what was looked for.</exception>
    public static DataSourceKind Detect(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException(File.Exists(folder)
                ? $"{folder}: is a file; expected a folder (of MNIST-format IDX files, CIFAR binary files, or one subfolder of images per class)"
                : $"{folder}: no such folder");
        if (MnistFolder.Holds(folder)) return DataSourceKind.Idx;
        if (CifarFolder.FindCifar10(folder) is not null) return DataSourceKind.Cifar10;
        if (CifarFolder.FindCifar100(folder) is not null) return DataSourceKind.Cifar100;
        if (ImageFolder.Looks(folder)) return DataSourceKind.ImageFolder;
        throw new FileNotFoundException(NoData(folder), folder);
    }

    /// <summary>What a folder holding no data of any kind lacks, in words.</summary>
    private static string NoData(string folder) =>
        $"{folder}: found no data: expected MNIST-format IDX files (no train-images file; looked for {string.Join(", ", MnistFolder.CandidateNames("train-images", 3))}), " +
        $"CIFAR-10 (data_batch_1.bin ... test_batch.bin), CIFAR-100 (train.bin, test.bin) or an image folder (one subfolder of {string.Join("/", ImageDecoder.Extensions)} files per class, optionally under train/ and test/)";

    /// <summary>
    /// Loads what <paramref name="selection"/> names: the sets of its source (or the bundled digits), shaped to its size and
    /// channels, the training set cut to its limit and split for validation, the test set cut to its limit.
    /// </summary>
    /// <param name="selection">The data.</param>
    /// <param name="parts">All sets, or only the test set.</param>
    /// <param name="progress">For image folders: called on the calling thread about ten times a second while images decode.</param>
    /// <param name="cancellation">Stops an image folder's loading between images.</param>
    /// <exception cref="ArgumentException">The selection cannot be used (<see cref="DataSelection.Problem"/>).</exception>
    /// <exception cref="FileFormatException">A file is not in its format.</exception>
    /// <exception cref="ImageFolderException">An image folder's image does not decode (unless skipped), its images differ in size with no size given, or they do not fit in memory.</exception>
    public static LoadedData Load(DataSelection selection, DataParts parts = DataParts.All, Action<ImageLoadProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(selection);
        if (selection.Problem() is { } problem) throw new ArgumentException(problem, nameof(selection));
        bool testOnly = parts == DataParts.Test;
        DataSourceKind kind = selection.Source is null ? DataSourceKind.Bundled : Detect(selection.Source);
        string label = selection.Source ?? "bundled MNIST digits";
        ImageDataSet? train = null, test;
        IReadOnlyList<UnreadableImage> skipped = [];
        int converted = 0, resized = 0;
        switch (kind)
        {
            case DataSourceKind.Bundled:
                (train, test) = BundledDigits.Load();
                break;
            case DataSourceKind.Idx:
                if (testOnly) test = MnistFolder.LoadTestSet(selection.Source!);
                else (train, test) = MnistFolder.Load(selection.Source!);
                if (train is not null && FashionMnist.Matches(train, test))
                    (train, test) = (train.WithClassNames(FashionMnist.ClassNames), test.WithClassNames(FashionMnist.ClassNames));
                break;
            case DataSourceKind.Cifar10:
                if (testOnly) test = CifarFolder.LoadCifar10Test(selection.Source!);
                else (train, test) = CifarFolder.LoadCifar10(selection.Source!);
                break;
            case DataSourceKind.Cifar100:
                if (testOnly) test = CifarFolder.LoadCifar100Test(selection.Source!, selection.Label);
                else (train, test) = CifarFolder.LoadCifar100(selection.Source!, selection.Label);
                break;
            default:
                var folder = ImageFolder.Load(selection, testOnly, progress, cancellation);
                (train, test, skipped, converted, resized) = (folder.Train, folder.Test, folder.Skipped, folder.Converted, folder.Resized);
                if (testOnly)
                {
                    // Without test/, an image folder's test set is all of it.
                    test ??= train;
                    train = null;
                }
                break;
        }
        if (train is not null && selection.TrainLimit > 0 && selection.TrainLimit < train.Count) train = train.Take(selection.TrainLimit);
        if (test is not null && selection.TestLimit > 0 && selection.TestLimit < test.Count) test = test.Take(selection.TestLimit);
        if (kind != DataSourceKind.ImageFolder)
        {
            if (train is not null) (train, converted, resized) = Reshape(train, selection, converted, resized);
            if (test is not null) (test, converted, resized) = Reshape(test, selection, converted, resized);
        }
        ImageDataSet? validation = null;
        if (train is not null && selection.ValidationFraction > 0)
            (train, validation) = train.SplitValidation(selection.ValidationFraction, selection.ValidationSeed);
        return new LoadedData(kind, label, train, validation, test, skipped, converted, resized);
    }

    /// <summary>Brings a data set read from IDX or CIFAR files to the selection's channels and size.</summary>
    private static (ImageDataSet Data, int Converted, int Resized) Reshape(ImageDataSet data, DataSelection selection, int converted, int resized)
    {
        int channels = selection.Channels == 0 ? data.Channels : selection.Channels;
        int width = selection.Width == 0 ? data.Cols : selection.Width, height = selection.Height == 0 ? data.Rows : selection.Height;
        var shape = new Shape(channels, height, width);
        if (shape == data.Shape) return (data, converted, resized);
        ImageFolder.CheckMemory(selection.Source ?? "bundled digits", data.Count, shape);
        var pixels = new byte[(long)data.Count * shape.Size];
        var labels = new byte[data.Count];
        bool convert = channels != data.Channels, resize = width != data.Cols || height != data.Rows;
        Parallel.For(0, data.Count, new ParallelOptions { MaxDegreeOfParallelism = Kernels.Parallelism.ThreadCount }, i =>
        {
            var image = PixelImage.FromDataSet(data, i).ToChannels(channels).Resize(width, height);
            image.Pixels.CopyTo(pixels.AsSpan(i * shape.Size, shape.Size));
        });
        for (int i = 0; i < data.Count; i++) labels[i] = (byte)data.Label(i);
        var reshaped = ImageDataSet.Adopt(pixels, labels, shape, data.Classes, data.ClassNames);
        return (reshaped, converted + (convert ? data.Count : 0), resized + (resize ? data.Count : 0));
    }
}
