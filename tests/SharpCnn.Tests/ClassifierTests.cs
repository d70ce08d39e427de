using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests;

public sealed class ClassifierTests(TrainedDigitModel trained) : IClassFixture<TrainedDigitModel>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-classifier-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void FitLearnsTheDigitsAndReportsEveryEpoch()
    {
        var result = trained.Result;
        Assert.Single(result.Epochs);
        Assert.False(result.Diverged);
        Assert.True(result.Epochs[0].Test!.Accuracy > 0.9, $"test accuracy {result.Epochs[0].Test!.Accuracy:P2} after one epoch");
        var evaluation = trained.Model.Evaluate(trained.Test);
        Assert.Equal(result.Epochs[0].Test!.Accuracy, evaluation.Accuracy);
    }

    [Fact]
    public void CallbacksSeeProgressAndEveryEpoch()
    {
        var model = Classifier.FromSpec("flatten,dense10", new Shape(1, 28, 28));
        var progress = new List<TrainingProgress>();
        var epochs = new List<EpochResult>();
        var small = trained.Train.Take(640);
        var result = model.Fit(small, trained.Test.Take(100), new TrainingOptions { Epochs = 2, BatchSize = 32, Optimizer = "adam", LearningRate = 0.01, ProgressEvery = 5 },
            onProgress: progress.Add, onEpoch: epochs.Add, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(result.Epochs, epochs);
        Assert.Equal(2 * 640 / 32 / 5, progress.Count);
        Assert.All(progress, p => Assert.InRange(p.Samples, 1, 640));
        Assert.Equal([1, 2], epochs.Select(e => e.Epoch));
    }

    [Fact]
    public void CancellationStopsFit()
    {
        var model = Classifier.FromSpec("flatten,dense10", new Shape(1, 28, 28));
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => model.Fit(trained.Train, cancellation: cancel.Token));
    }

    [Fact]
    public void PredictAgreesWithTheEvaluatorOnEveryTestImage()
    {
        var model = trained.Model;
        var all = model.Predict(trained.Test);
        Assert.Equal(trained.Test.Count, all.Count);
        int correct = 0;
        for (int i = 0; i < trained.Test.Count; i++)
        {
            var one = model.Predict(trained.Test.Image(i));
            Assert.Equal(all[i].Class, one.Class);
            Assert.Equal(all[i].Probabilities, one.Probabilities);
            if (one.Class == trained.Test.Label(i)) correct++;
        }
        Assert.Equal(model.Evaluate(trained.Test).Accuracy, (double)correct / trained.Test.Count);
    }

    [Fact]
    public void ProbabilitiesAreTheSoftmaxOfTheScoresAndTopIsSorted()
    {
        var p = trained.Model.Predict(trained.Test.Image(0));
        Assert.Equal(10, p.Probabilities.Count);
        Assert.Equal(1.0, p.Probabilities.Sum(), 1e-12);
        double max = p.Scores.Max(), norm = p.Scores.Sum(s => Math.Exp(s - max));
        for (int c = 0; c < 10; c++) Assert.Equal(Math.Exp(p.Scores[c] - max) / norm, p.Probabilities[c], 1e-12);
        var top = p.Top(3);
        Assert.Equal(p.Class, top[0].Class);
        Assert.Equal(p.Probability, top[0].Probability);
        Assert.True(top[0].Probability >= top[1].Probability && top[1].Probability >= top[2].Probability);
        Assert.Equal(10, p.Top(50).Count);
    }

    [Fact]
    public void PredictOnTensorsMatchesPredictOnPixelBytes()
    {
        var pixels = trained.Test.Image(5);
        var input = new float[784];
        trained.Test.CopyBatch<float>([5], input, new int[1]);
        Assert.Equal(trained.Model.Predict(pixels).Probabilities, trained.Model.Predict(input).Probabilities);
        Assert.Throws<ArgumentException>(() => trained.Model.Predict(new float[783]));
        Assert.Throws<ArgumentException>(() => trained.Model.Predict(new byte[785]));
    }

    [Fact]
    public void PredictLeavesTheNetworkInTheModeItFoundIt()
    {
        trained.Model.Network.Training = true;
        trained.Model.Predict(trained.Test.Image(1));
        Assert.True(trained.Model.Network.Training);
    }

    [Fact]
    public void SaveThenLoadPredictsIdentically()
    {
        string path = Path.Combine(dir, "digits.scnn");
        trained.Model.Save(path, new Dictionary<string, string> { ["note"] = "classifier test" });
        var loaded = Classifier.Load(path);
        Assert.Equal(trained.Model.Spec, loaded.Spec);
        Assert.Equal("classifier test", ModelFile.ReadHeader(path).Metadata["note"]);
        for (int i = 0; i < 50; i++)
            Assert.Equal(trained.Model.Predict(trained.Test.Image(i)).Probabilities, loaded.Predict(trained.Test.Image(i)).Probabilities);
        var inDouble = Classifier.Load<double>(path);
        Assert.Equal(trained.Model.Predict(trained.Test.Image(0)).Class, inDouble.Predict(trained.Test.Image(0)).Class);
    }

    [Fact]
    public void TheSampleDigitPngsArePredictedRight()
    {
        foreach (var (path, label, darkOnLight) in TrainedDigitModel.SampleDigits())
        {
            var image = GreyImage.Load(path);
            var p = trained.Model.Predict(darkOnLight ? image.Invert() : image);
            Assert.True(p.Class == label, $"{Path.GetFileName(path)}: predicted {p.Class} ({p.Probability:P1}), expected {label}");
        }
    }

    [Fact]
    public void BuildingInCodeFromASpecAndFromAPresetGiveTheSameNetwork()
    {
        var shape = new Shape(1, 28, 28);
        var inCode = new Classifier<double>(shape,
            [new Conv2d<double>(4, 5, 5, padding: Padding.Same), new Relu<double>(), new MaxPool2d<double>(2), new Flatten<double>(), new Dense<double>(10)],
            init: InitScheme.Xavier, seed: 9);
        var fromSpec = Classifier.FromSpec<double>("conv5x5x4:same,relu,maxpool2,flatten,dense10", shape, init: InitScheme.Xavier, seed: 9);
        Assert.Equal(fromSpec.Spec, inCode.Spec);
        Assert.Equal(fromSpec.Network.Parameters.SelectMany(p => p.Value), inCode.Network.Parameters.SelectMany(p => p.Value));

        var preset = Classifier.FromPreset("lenet5", shape, seed: 2);
        var lenet = Presets.Find("lenet5")!;
        Assert.Equal(ModelSpec.Parse(lenet.Spec).Text, preset.Spec);
        Assert.Equal("ce", preset.Network.Loss.Name);
        Assert.Throws<ArgumentException>(() => Classifier.FromPreset("no-such-preset", shape));
        Assert.Throws<ModelSpecException>(() => Classifier.FromSpec("conv5x5x4,bogus", shape));
    }

    [Fact]
    public void SquaredErrorModelsGiveNormalisedNonNegativeScoresAsProbabilities()
    {
        var model = Classifier.FromSpec("flatten,dense10,sigmoid", new Shape(1, 28, 28), loss: "mse", seed: 4);
        var p = model.Predict(trained.Test.Image(0));
        Assert.Equal(1.0, p.Probabilities.Sum(), 1e-12);
        Assert.All(p.Probabilities, v => Assert.InRange(v, 0, 1));
        double sum = p.Scores.Sum(s => Math.Max(0, s));
        Assert.Equal(p.Scores[3] / sum, p.Probabilities[3], 1e-12);
    }

    [Fact]
    public void PredictOnAGreyImageResizesItToTheInput()
    {
        var digit = GreyImage.FromDataSet(trained.Test, 0);
        var big = digit.Resize(84, 84);
        Assert.Equal(trained.Model.Predict(digit.Pixels).Class, trained.Model.Predict(big).Class);
        var rgb = Classifier.FromSpec("conv3x3x2,flatten,dense10", new Shape(3, 8, 8));
        Assert.Throws<ArgumentException>(() => rgb.Predict(digit));
    }
}
