using SharpCnn.Data;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Model;

/// <summary>
/// The same seed gives bit-identical weights whatever the thread count: every parallel kernel splits its
/// work into partitions whose arithmetic does not depend on how many threads run them.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class DeterminismTests
{
    [Theory]
    [InlineData("seed-cnn", 20, "adam")]   // several gradient chunks, the last one partial
    [InlineData("seed-cnn", 3, "momentum")] // fewer samples than threads x 2: outputs split within a sample
    [InlineData("seed-cnn", 1, "sgd")]      // single-sample training
    [InlineData("conv3x3x5:s2:p1,relu,conv1x1x7,tanh,maxpool2:pad,conv2x3x4:table=1100000.0110000.0011100.1000011,relu,dense10", 11, "adam")]
    public void TrainingGivesBitIdenticalWeightsOnOneTwoAndThreeThreads(string model, int batch, string optimizer)
    {
        float[][] one = Train(model, batch, optimizer, threads: 1);
        float[][] two = Train(model, batch, optimizer, threads: 2);
        float[][] three = Train(model, batch, optimizer, threads: 3);
        for (int p = 0; p < one.Length; p++)
        {
            Assert.True(one[p].AsSpan().SequenceEqual(two[p]), $"parameter {p}: 1 and 2 threads differ");
            Assert.True(one[p].AsSpan().SequenceEqual(three[p]), $"parameter {p}: 1 and 3 threads differ");
        }
        Assert.Contains(one, p => p.Any(v => v != 0));
    }

    [Fact]
    public void DoublePrecisionIsDeterministicToo()
    {
        var one = Train<double>("seed-cnn", 9, "adam", threads: 1);
        var two = Train<double>("seed-cnn", 9, "adam", threads: 2);
        for (int p = 0; p < one.Length; p++) Assert.True(one[p].AsSpan().SequenceEqual(two[p]), $"parameter {p} differs");
    }

    private static float[][] Train(string model, int batch, string optimizer, int threads) => Train<float>(model, batch, optimizer, threads);

    private static T[][] Train<T>(string model, int batch, string optimizer, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = new ThreadCountScope(threads);
        var preset = Presets.Find(model);
        var spec = ModelSpec.Parse(preset?.Spec ?? model);
        var net = spec.Build<T>(new Shape(1, 28, 28), preset?.Loss ?? "ce");
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(7));
        var (train, _) = BundledDigits.Load();
        var trainer = new Trainer<T>(net, new TrainingOptions { BatchSize = batch, Optimizer = optimizer, LearningRate = 0.01, MaxSteps = 3, Seed = 5 });
        trainer.Fit(train.Take(3 * batch));
        return net.Parameters.Select(p => (T[])p.Value.Clone()).ToArray();
    }
}
