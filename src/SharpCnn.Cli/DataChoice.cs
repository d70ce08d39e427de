using SharpCnn.Data;

namespace SharpCnn.Cli;

/// <summary>The data a command runs on: the bundled digits, or an IDX folder given with <c>--data</c>.</summary>
internal static class DataChoice
{
    public static (ImageDataSet Train, ImageDataSet Test, string Label) Load(string? folder, int trainLimit = 0, int testLimit = 0)
    {
        var (train, test) = folder is null ? BundledDigits.Load() : MnistFolder.Load(folder);
        string label = folder is null ? "bundled MNIST digits" : folder;
        if (trainLimit > 0 && trainLimit < train.Count) train = train.Take(trainLimit);
        if (testLimit > 0 && testLimit < test.Count) test = test.Take(testLimit);
        return (train, test, label);
    }
}
