using SharpCnn.Data;
using SharpCnn.Training;

namespace SharpCnn.Tests;

/// <summary>
/// A small CNN trained once per test run and shared by the test classes that ask for it (as an xunit
/// class fixture): one epoch of Adam over the 8,000 bundled training digits, a few seconds on two cores,
/// about 94 % on the test digits. Its parameters must not be changed; prediction reuses the network's
/// buffers, so only one test class (ClassifierTests) predicts with it directly.
/// </summary>
public sealed class TrainedDigitModel
{
    public const string Spec = "conv5x5x8:same,relu,maxpool2,flatten,dense10";

    private static readonly Lazy<(Classifier<float> Model, TrainingResult Result)> Trained = new(() =>
    {
        var (train, test) = BundledDigits.Load();
        var model = Classifier.FromSpec(Spec, train.Shape, seed: 7);
        return (model, model.Fit(train, test, Options));
    });

    public TrainedDigitModel()
    {
        (Train, Test) = BundledDigits.Load();
        (Model, Result) = Trained.Value;
    }

    /// <summary>One epoch of Adam, learning rate 0.003, batches of 32.</summary>
    public static TrainingOptions Options => Classifier.DefaultTrainingOptions with { Epochs = 1, LearningRate = 0.003 };

    public ImageDataSet Train { get; }

    public ImageDataSet Test { get; }

    public Classifier<float> Model { get; }

    public TrainingResult Result { get; }

    /// <summary>The path of a sample PNG digit (samples/digits, copied next to the tests).</summary>
    public static string SampleDigit(string name) => Path.Combine(AppContext.BaseDirectory, "Digits", name);

    /// <summary>Every sample PNG digit with its true label (the file name's first character) and whether it shows a dark digit on light paper.</summary>
    public static IEnumerable<(string Path, int Label, bool DarkOnLight)> SampleDigits() =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Digits"), "*.png").Order()
            .Select(p => (p, Path.GetFileName(p)[0] - '0', Path.GetFileName(p).Contains("dark-on", StringComparison.Ordinal)));
}
