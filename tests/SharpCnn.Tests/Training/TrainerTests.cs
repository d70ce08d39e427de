using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>What the trainer promises: it learns, it is reproducible, and it stops when told to.</summary>
public class TrainerTests
{
    private static (ImageDataSet Train, ImageDataSet Test) Digits(int train = 600, int test = 300)
    {
        var (tr, te) = BundledDigits.Load();
        return (tr.Take(train), te.Take(test));
    }

    private static Network<T> Net<T>(string spec = "flatten,dense32,relu,dense10", string loss = "ce", ulong seed = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var net = ModelSpec.Parse(spec).Build<T>(new Shape(1, 28, 28), loss);
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(seed));
        return net;
    }

    [Fact]
    public void TrainingLearnsTheDigitsWellAboveChance()
    {
        var (train, test) = Digits();
        var net = Net<float>();
        var before = Evaluator.Evaluate(net, test);
        var result = new Trainer<float>(net, new TrainingOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.1 }).Fit(train, test, TestContext.Current.CancellationToken);
        Assert.Equal(3, result.Epochs.Count);
        Assert.False(result.Diverged);
        Assert.InRange(before.Accuracy, 0, 0.3);
        Assert.True(result.Epochs[^1].Test!.Accuracy > 0.8, $"test accuracy {result.Epochs[^1].Test!.Accuracy}");
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss);
        Assert.Equal(3 * (600 / 16 + 1), result.Epochs[^1].Steps); // 37 full batches and one of 8 per epoch
    }

    [Fact]
    public void TheSameSeedGivesBitIdenticalWeightsAndAnotherShuffleDiffers()
    {
        var (train, _) = Digits(200);
        float[][] Run(ulong shuffleSeed, int batch)
        {
            var net = Net<float>();
            new Trainer<float>(net, new TrainingOptions { Epochs = 2, BatchSize = batch, LearningRate = 0.05, Seed = shuffleSeed }).Fit(train, null, TestContext.Current.CancellationToken);
            return net.Parameters.Select(p => p.Value).ToArray();
        }
        var a = Run(7, 8);
        var b = Run(7, 8);
        var c = Run(8, 8);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i]);
        Assert.NotEqual(a[0], c[0]);
    }

    [Fact]
    public void BatchOfOneIsTheSeedsSingleSampleSgd()
    {
        // With batch 1 and plain SGD, one step on sample i is w <- w - lr * dL_i/dw exactly.
        var (train, _) = Digits(5);
        var net = Net<double>("flatten,dense10", "softmax-mse");
        var copy = Net<double>("flatten,dense10", "softmax-mse");
        new Trainer<double>(net, new TrainingOptions { BatchSize = 1, LearningRate = 0.05, Optimizer = "sgd", Shuffle = false }).Fit(train, null, TestContext.Current.CancellationToken);
        copy.Reserve(1);
        var labels = new int[1];
        var parameters = copy.Parameters.ToArray();
        for (int i = 0; i < train.Count; i++)
        {
            train.CopyBatch<double>([i], copy.Input(1), labels);
            copy.ZeroGradients();
            copy.Forward(1);
            copy.Backward(labels, 1);
            foreach (var p in parameters)
                for (int j = 0; j < p.Length; j++) p.Value[j] -= 0.05 * p.Gradient[j];
        }
        var trained = net.Parameters.ToArray();
        for (int k = 0; k < parameters.Length; k++)
            for (int j = 0; j < parameters[k].Length; j++)
                Assert.Equal(parameters[k].Value[j], trained[k].Value[j], 14);
    }

    [Fact]
    public void TheStopThresholdEndsTrainingOnceNoParameterMovesByEpsilon()
    {
        var (train, _) = Digits(100);
        var tiny = new Trainer<float>(Net<float>(), new TrainingOptions { Epochs = 10, BatchSize = 10, LearningRate = 1e-7, Optimizer = "sgd", StopEpsilon = 1e-3 }).Fit(train, null, TestContext.Current.CancellationToken);
        Assert.Single(tiny.Epochs);
        Assert.StartsWith("converged", tiny.StopReason);
        Assert.True(tiny.Epochs[0].MaxParameterChange < 1e-3);

        var moving = new Trainer<float>(Net<float>(), new TrainingOptions { Epochs = 3, BatchSize = 10, LearningRate = 0.1, Optimizer = "sgd", StopEpsilon = 1e-6 }).Fit(train, null, TestContext.Current.CancellationToken);
        Assert.Equal(3, moving.Epochs.Count);
        Assert.StartsWith("epochs", moving.StopReason);
        Assert.All(moving.Epochs, e => Assert.True(e.MaxParameterChange >= 1e-6));
    }

    [Fact]
    public void TheStepCapStopsMidEpoch()
    {
        var (train, _) = Digits(100);
        var trainer = new Trainer<float>(Net<float>(), new TrainingOptions { Epochs = 5, BatchSize = 10, MaxSteps = 13 });
        var result = trainer.Fit(train, null, TestContext.Current.CancellationToken);
        Assert.Equal(13, trainer.Optimizer.StepCount);
        Assert.Equal(2, result.Epochs.Count);
        Assert.StartsWith("step cap", result.StopReason);
    }

    [Fact]
    public void BadOptionsAreRejectedWithTheReason()
    {
        var net = Net<float>();
        Assert.Contains("epochs", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer<float>(net, new TrainingOptions { Epochs = 0 })).Message);
        Assert.Contains("batch", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer<float>(net, new TrainingOptions { BatchSize = 0 })).Message);
        var wrongShape = new ImageDataSet(new byte[2 * 9], [1, 2], 3, 3);
        Assert.Contains("network takes", Assert.Throws<ArgumentException>(() => new Trainer<float>(net, new TrainingOptions()).Fit(wrongShape, null, TestContext.Current.CancellationToken)).Message);
    }
}
