// A folder laid out like the MNIST distribution: four IDX files named
//   train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
// each also accepted as "train-images.idx3-ubyte" (the official site's other spelling) and
// with or without ".gz". MNIST, Fashion-MNIST (Debian: /usr/share/datasets/fashion-mnist)
// and KMNIST all ship this way.

namespace SharpCnn.Data;

/// <summary>Loads the training and test sets from a folder of MNIST-named IDX files.</summary>
public static class MnistFolder
{
    /// <summary>
    /// Loads train-images/train-labels as Train and t10k-images/t10k-labels as Test from <paramref name="folder"/>.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message lists every name looked for.</exception>
    /// <exception cref="FileFormatException">A file is malformed or the files disagree.</exception>
    public static (ImageDataSet Train, ImageDataSet Test) Load(string folder, int classes = 10)
    {
        var train = LoadTrainingSet(folder, classes);
        var test = ImageDataSet.Load(Find(folder, "t10k-images", 3), Find(folder, "t10k-labels", 1), classes);
        return (train, test);
    }

    /// <summary>Loads only train-images/train-labels from <paramref name="folder"/> (when the test set is not needed).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message lists every name looked for.</exception>
    /// <exception cref="FileFormatException">A file is malformed or the files disagree.</exception>
    public static ImageDataSet LoadTrainingSet(string folder, int classes = 10)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder (expected a folder of MNIST-named IDX files)");
        return ImageDataSet.Load(Find(folder, "train-images", 3), Find(folder, "train-labels", 1), classes);
    }

    /// <summary>Loads only t10k-images/t10k-labels from <paramref name="folder"/> (when only the test set is needed).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message lists every name looked for.</exception>
    /// <exception cref="FileFormatException">A file is malformed or the files disagree.</exception>
    public static ImageDataSet LoadTestSet(string folder, int classes = 10)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder (expected a folder of MNIST-named IDX files)");
        return ImageDataSet.Load(Find(folder, "t10k-images", 3), Find(folder, "t10k-labels", 1), classes);
    }

    /// <summary>True when <paramref name="folder"/> holds an MNIST-named training or test images file.</summary>
    public static bool Holds(string folder) =>
        Directory.Exists(folder) && new[] { "train-images", "t10k-images" }.Any(stem => CandidateNames(stem, 3).Any(n => File.Exists(Path.Combine(folder, n))));

    /// <summary>The names accepted for <paramref name="stem"/> (e.g. "train-images"), in the order they are tried.</summary>
    public static IReadOnlyList<string> CandidateNames(string stem, int dimensions) =>
    [
        $"{stem}-idx{dimensions}-ubyte.gz",
        $"{stem}-idx{dimensions}-ubyte",
        $"{stem}.idx{dimensions}-ubyte.gz",
        $"{stem}.idx{dimensions}-ubyte",
    ];

    private static string Find(string folder, string stem, int dimensions)
    {
        var names = CandidateNames(stem, dimensions);
        foreach (string name in names)
        {
            string path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException(
            $"{folder}: no {stem} file; looked for {string.Join(", ", names)}",
            Path.Combine(folder, names[0]));
    }
}
