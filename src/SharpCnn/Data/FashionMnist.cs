// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; MIT licence): 60,000 training and 10,000 test
// 28x28 grey images of clothing in 10 classes, in the same IDX format as MNIST.
//
// Debian's package dataset-fashion-mnist installs the four files under
// /usr/share/datasets/fashion-mnist with exactly the MNIST names
// (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
// t10k-labels-idx1-ubyte.gz), so MnistFolder reads that folder as it is: no renaming or
// mapping is needed. This file only names the folder, the classes, and recognises the set.

namespace SharpCnn.Data;

/// <summary>Where Fashion-MNIST lives on Debian, its class names, and how to recognise it.</summary>
public static class FashionMnist
{
    /// <summary>The folder Debian's <c>dataset-fashion-mnist</c> package installs the IDX files into.</summary>
    public const string DebianFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten classes, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    // The first labels of the official training and test files: enough to tell the set from
    // MNIST (whose training set starts 5, 0, 4, 1, 9) or any other MNIST-format folder.
    private static readonly byte[] TrainStart = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4];
    private static readonly byte[] TestStart = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0];

    /// <summary>
    /// Loads Fashion-MNIST from <paramref name="folder"/> (default: Debian's). A missing folder is a
    /// <see cref="DirectoryNotFoundException"/> that says how to install it.
    /// </summary>
    public static (ImageDataSet Train, ImageDataSet Test) Load(string folder = DebianFolder)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder; install Fashion-MNIST with 'apt-get install dataset-fashion-mnist' (it goes to {DebianFolder})");
        return MnistFolder.Load(folder);
    }

    /// <summary>True when the two sets are the full, official Fashion-MNIST (60,000 and 10,000 images, its first labels).</summary>
    public static bool Matches(ImageDataSet train, ImageDataSet test) =>
        train.Count == 60_000 && test.Count == 10_000 && train.Rows == 28 && train.Cols == 28
        && train.Labels[..TrainStart.Length].SequenceEqual(TrainStart)
        && test.Labels[..TestStart.Length].SequenceEqual(TestStart);
}
