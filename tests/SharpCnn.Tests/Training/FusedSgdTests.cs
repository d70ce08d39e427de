using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>
/// Plain SGD folded into the dense layers' backward pass (batch 1): the same bits as the unfused step (gradients
/// written, guard, optimiser), guarded (update deferred past the guard) or not (update during backward), on 1, 2
/// and 3 threads, in float and double, with weight decay and a schedule; the guard's verdicts are the same; no allocation.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class FusedSgdTests
{
    /// <summary>A dense layer of 300 units over 1280 inputs: two depth slices of dx, two column chunks, several threads.</summary>
    private const string Deep = "conv3x3x20:same,relu,dense300,relu,dense3";

    /// <summary>A dense layer first: no input gradient, the fused pass only updates.</summary>
    private const string Shallow = "dense40,relu,dense3";

    private static readonly ImageDataSet Data = TrainerResumeAndGuardTests.Data(48);

    /// <summary>A hook that does nothing: a step with a hook never fuses (hooks may read the gradients), so it is the unfused reference.</summary>
    private sealed class NoHook<T> : ITrainingStepHook<T> where T : unmanaged, IFloatingPointIeee754<T>;

    private static (T[][] Weights, List<StepResult> Results) Train<T>(string spec, bool fused, bool guarded, double decay, int steps, double limit = 1e6, Action<Network<T>>? change = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var network = TrainerResumeAndGuardTests.Network<T>(5, spec);
        change?.Invoke(network);
        var options = new TrainingOptions
        {
            BatchSize = 1, Optimizer = "sgd", LearningRate = 0.05, WeightDecay = decay, Seed = 2, Epochs = 1,
            Schedule = LearningRateSchedule.Cosine, ExplosionLimit = limit,
        };
        var step = new TrainingStep<T>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = guarded };
        if (!fused) step.Hooks.Add(new NoHook<T>());
        var results = new List<StepResult>();
        for (int s = 0; s < steps; s++) results.Add(step.Run(Data, [s * 7 % Data.Count]));
        return (network.Parameters.Select(p => (T[])p.Value.Clone()).ToArray(), results);
    }

    /// <summary>Every array of <paramref name="expected"/> and <paramref name="actual"/> the same bits (weights, or an optimiser's state).</summary>
    internal static void AssertSameBits<T>(T[][] expected, T[][] actual, string what) where T : unmanaged
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MemoryMarshal.AsBytes(expected[i].AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual[i].AsSpan())), $"{what}: parameter {i} differs");
    }

    [Theory]
    [InlineData(Deep, 0.0)]
    [InlineData(Deep, 1e-3)]
    [InlineData(Shallow, 0.0)]
    [InlineData(Shallow, 1e-3)]
    public void FusedStepsGiveTheUnfusedBitsOnAnyThreadCount(string spec, double decay)
    {
        Compare<float>(spec, decay);
        Compare<double>(spec, decay);
    }

    private static void Compare<T>(string spec, double decay) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[][]? reference = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            var (unfused, unfusedResults) = Train<T>(spec, fused: false, guarded: true, decay, steps: 12);
            reference ??= unfused;
            AssertSameBits(reference, unfused, $"{typeof(T).Name} unfused, {threads} thread(s)");
            foreach (bool guarded in new[] { true, false })
            {
                var (weights, results) = Train<T>(spec, fused: true, guarded, decay, steps: 12);
                string what = $"{typeof(T).Name} {spec} decay {decay}, fused {(guarded ? "after the guard" : "in backward")}, {threads} thread(s)";
                AssertSameBits(reference, weights, what);
                Assert.Equal(unfusedResults, results);
            }
        }
    }

    [Fact]
    public void TheGuardFindsTheSameInAFusedStepAndUpdatesNothing()
    {
        // Low limits make the guard stop steps at the outputs, the loss or a gradient; whatever it finds and wherever,
        // the fused (deferred) step must find the same and leave the same weights.
        foreach (double limit in new[] { 0.05, 0.3, 1, 2, 4, 8, 20 })
        {
            var (expected, expectedResults) = Train<float>(Deep, fused: false, guarded: true, 0, steps: 6, limit);
            var (actual, results) = Train<float>(Deep, fused: true, guarded: true, 0, steps: 6, limit);
            Assert.Equal(expectedResults, results);
            AssertSameBits(expected, actual, $"limit {limit}");
        }

        // Tiny first-layer weights and large second-layer ones: small outputs and loss, but a large δ into the first
        // dense layer, so its weight gradient (never written in a fused step, judged by max |δ|·max |x|) breaks the limit.
        static void Change(Network<float> network)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(network.Layers[0].Parameters[0].Value, 1e-6f, network.Layers[0].Parameters[0].Value);
            System.Numerics.Tensors.TensorPrimitives.Multiply(network.Layers[2].Parameters[0].Value, 1e3f, network.Layers[2].Parameters[0].Value);
        }
        var (before, unfused) = Train<float>(Shallow, fused: false, guarded: true, 0, steps: 3, limit: 10, Change);
        var (after, fused) = Train<float>(Shallow, fused: true, guarded: true, 0, steps: 3, limit: 10, Change);
        Assert.Equal(unfused, fused);
        AssertSameBits(before, after, "a stopped fused step");
        Assert.All(fused, r => Assert.Equal((1, "dense40", "weight gradient"), (r.Divergence?.Layer, r.Divergence?.Token, r.Divergence?.Quantity)));
        var (initial, _) = Train<float>(Shallow, fused: true, guarded: true, 0, steps: 0, limit: 10, Change);
        AssertSameBits(initial, after, "the weights after stopped steps");
    }

    [Fact]
    public void AFusedStepAllocatesNothingAfterWarmUp()
    {
        foreach (bool guarded in new[] { true, false })
        {
            var network = TrainerResumeAndGuardTests.Network<float>(5, Deep);
            var options = new TrainingOptions { BatchSize = 1, Optimizer = "sgd", LearningRate = 0.01, Seed = 2 };
            var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = guarded };
            int[] batch = [3];
            for (int i = 0; i < 3; i++) step.Run(Data, batch);
            long fewest = long.MaxValue;
            for (int round = 0; round < 3 && fewest > 0; round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 5; i++) step.Run(Data, batch);
                fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, fewest);
        }
    }
}
