// The 10,000 real MNIST digits bundled with SharpCnn (data/mnist-10k, embedded in this
// assembly as gzip IDX resources): 8,000 training and 2,000 test images of 28x28, labels 0-9.
// Loading them needs no file system and no download.

using System.Reflection;

namespace SharpCnn.Data;

/// <summary>The zero-setup default data set: 10,000 MNIST digits embedded in the library.</summary>
public static class BundledDigits
{
    /// <summary>Where the bundled digits come from and under which licence.</summary>
    public const string Attribution =
        "The first 10,000 images of the MNIST training set (LeCun, Cortes, Burges; distributed under CC BY-SA 3.0), " +
        "shuffled with a fixed seed and split into 8,000 training and 2,000 test images.";

    /// <summary>Number of bundled training images.</summary>
    public const int TrainCount = 8000;

    /// <summary>Number of bundled test images.</summary>
    public const int TestCount = 2000;

    private const string ResourcePrefix = "SharpCnn.Data.mnist-10k.";

    private static readonly Lazy<(ImageDataSet Train, ImageDataSet Test)> Cached = new(Read);

    /// <summary>
    /// The bundled training (8,000) and test (2,000) sets. Decoded once per process and shared:
    /// <see cref="ImageDataSet"/> is immutable.
    /// </summary>
    public static (ImageDataSet Train, ImageDataSet Test) Load() => Cached.Value;

    private static (ImageDataSet Train, ImageDataSet Test) Read() =>
    (
        ImageDataSet.FromIdx(ReadResource("train-images-idx3-ubyte.gz", 3), ReadResource("train-labels-idx1-ubyte.gz", 1)),
        ImageDataSet.FromIdx(ReadResource("t10k-images-idx3-ubyte.gz", 3), ReadResource("t10k-labels-idx1-ubyte.gz", 1))
    );

    private static IdxArray ReadResource(string fileName, int dimensions)
    {
        string resource = ResourcePrefix + fileName;
        using Stream stream = typeof(BundledDigits).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"resource {resource} is missing from {typeof(BundledDigits).Assembly.GetName().Name}: the library was built without data/mnist-10k");
        return IdxReader.Read(stream, $"(bundled) {fileName}", dimensions);
    }
}
