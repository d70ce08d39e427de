using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Tests.Data;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>Colour end to end: a 3-channel model with normalisation and augmentation learns the colour task, saves, exports and imports.</summary>
public sealed class ColourTrainingTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-colour-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AThreeChannelModelLearnsTheColourTaskWellAboveChance()
    {
        var train = ColourTask.Make(1200, 16, seed: 1);
        var test = ColourTask.Make(300, 16, seed: 2);
        var net = ModelSpec.Parse("randflip,randcrop2,normalize,conv3x3x16:same,relu,maxpool2,conv3x3x16:same,relu,maxpool2,flatten,dense10").Build<float>(train.Shape);
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(3));
        var stats = train.ChannelStatistics();
        ((Normalize<float>)net.Layers[2]).SetStatistics([.. stats.Mean], [.. stats.Std]);
        net.ClassNames = train.ClassNames;
        var result = new Trainer<float>(net, new TrainingOptions { Epochs = 4, BatchSize = 32, Optimizer = "adam", LearningRate = 0.003, Seed = 5 }).Fit(train, test, TestContext.Current.CancellationToken);
        double accuracy = result.Epochs[^1].Test!.Accuracy;
        Assert.True(accuracy > 0.8, $"test accuracy {accuracy:P1} (chance: 10 %)");

        // The model file keeps the colour input, the statistics and the class names.
        string path = Path.Combine(dir, "colour.scnn");
        ModelFile.Save(net, path);
        var loaded = ModelFile.Load<float>(path);
        Assert.Equal(new Shape(3, 16, 16), loaded.InputShape);
        Assert.Equal(train.ClassNames, loaded.ClassNames);
        Assert.Equal(accuracy, Evaluator.Evaluate(loaded, test).Accuracy);

        // ONNX: [N, 3, 16, 16] in, the normalisation as Sub and Div, the augmentations gone; it imports back to the same outputs.
        var model = OnnxExport.Build(net, null);
        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.Equal([3L, 16, 16], dims.Skip(1).Select(d => d.DimValue));
        Assert.Equal("Sub", model.Graph.Node[0].OpType);
        var imported = OnnxImport.Read<float>(OnnxExport.ToBytes(net), "colour.onnx");
        Assert.Equal(train.ClassNames, imported.Network.ClassNames);
        Assert.Equal(accuracy, Evaluator.Evaluate(imported.Network, test).Accuracy);
    }

    [Fact]
    public void WithAValidationSetEachEpochReportsItAndLeavesTheTestSetAlone()
    {
        var (all, test) = BundledDigits.Load();
        var (train, validation) = all.Take(600).SplitValidation(0.2, seed: 3);
        var net = ModelFactory.FromSpec<float>("flatten,dense10", train.Shape, seed: 2);
        var result = new Trainer<float>(net, new TrainingOptions { Epochs = 2, BatchSize = 32, Optimizer = "adam", LearningRate = 0.01 })
            .Fit(train, validation, test.Take(100), TestContext.Current.CancellationToken);
        Assert.All(result.Epochs, e =>
        {
            Assert.Null(e.Test);
            Assert.Equal(validation.Count, e.Validation!.Count);
        });
        Assert.Equal(Evaluator.Evaluate(net, validation).Accuracy, result.Epochs[^1].Validation!.Accuracy);
        // Without one, the test set is evaluated each epoch as before.
        var plain = new Trainer<float>(ModelFactory.FromSpec<float>("flatten,dense10", train.Shape, seed: 2), new TrainingOptions { Epochs = 1, BatchSize = 32, Optimizer = "adam", LearningRate = 0.01 })
            .Fit(train, test.Take(100), TestContext.Current.CancellationToken);
        Assert.Equal(100, plain.Epochs[0].Test!.Count);
        Assert.Null(plain.Epochs[0].Validation);
    }
}
