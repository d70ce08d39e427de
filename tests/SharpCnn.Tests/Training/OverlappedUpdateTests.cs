using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>
/// The optimiser's update run beside the backward pass (OverlappedUpdate: unguarded steps, no clipping, no hooks, several threads):
/// the same bits as the update after the backward pass, for every optimiser, with weight decay, in float and double; a layer's
/// parameters are updated only once its backward pass has finished; no allocation.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class OverlappedUpdateTests
{
    /// <summary>Batch norm (running statistics: not trained), dropout, two convolutions and a dense layer of 300 x 1024 (ten pieces).</summary>
    private const string Spec = "conv3x3x8:same,batchnorm,relu,conv3x3x16:same,relu,flatten,dense300,relu,dropout0.25,dense3";

    private static readonly ImageDataSet Data = TrainerResumeAndGuardTests.Data(64);

    private static (T[][] Weights, T[][] State, List<StepResult> Results, long Overlapped) Train<T>(string optimizer, double decay, bool guarded, int steps, int batchSize = 20)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var network = TrainerResumeAndGuardTests.Network<T>(7, Spec);
        var options = new TrainingOptions
        {
            BatchSize = batchSize, Optimizer = optimizer, LearningRate = optimizer == "adam" ? 0.002 : 0.02, Momentum = 0.9, WeightDecay = decay, Seed = 4,
            Epochs = 2, Schedule = LearningRateSchedule.Cosine,
        };
        var step = new TrainingStep<T>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = guarded };
        var results = new List<StepResult>();
        for (int s = 0; s < steps; s++)
        {
            int[] batch = Enumerable.Range(0, Math.Min(batchSize, s % 3 == 2 ? 7 : 20)).Select(i => (s * 20 + i * 3) % Data.Count).ToArray(); // a short batch too
            results.Add(step.Run(Data, batch));
        }
        return (network.Parameters.Select(p => (T[])p.Value.Clone()).ToArray(), step.Optimizer.State.Select(a => (T[])a.Clone()).ToArray(), results,
            step.OverlappedSteps);
    }

    [Theory]
    [InlineData("adam", 0.0)]
    [InlineData("adam", 1e-3)]
    [InlineData("momentum", 5e-4)]
    [InlineData("sgd", 1e-3)]
    public void UnguardedStepsUpdateBesideTheBackwardPassToTheBitsOfTheUpdateAfterIt(string optimizer, double decay)
    {
        Compare<float>(optimizer, decay);
        Compare<double>(optimizer, decay);
    }

    private static void Compare<T>(string optimizer, double decay) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int steps = 9;
        (T[][] Weights, T[][] State, List<StepResult> Results, long) reference;
        using (new ThreadCountScope(1)) reference = Train<T>(optimizer, decay, guarded: true, steps);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            foreach (bool guarded in new[] { true, false })
            {
                var (weights, state, results, overlapped) = Train<T>(optimizer, decay, guarded, steps);
                string what = $"{typeof(T).Name} {optimizer} decay {decay}, {(guarded ? "guarded" : "unguarded")}, {threads} thread(s)";
                // The update runs beside the backward pass exactly when it may: unguarded, on more than one thread.
                Assert.Equal(!guarded && threads > 1 ? steps : 0, overlapped);
                FusedSgdTests.AssertSameBits(reference.Weights, weights, what + ", weights");
                FusedSgdTests.AssertSameBits(reference.State, state, what + ", optimiser state");
                Assert.Equal(reference.Results, results);
            }
        }
    }

    /// <summary>
    /// One sample a step: on 2 and 3 threads the dense layer of 300 rows (two depth slices) writes ∂W and dx by its rows, each
    /// slice on its owner (FusedSgdKernels.Gradient), and the optimiser's ranges have owners too; the same bits as one thread.
    /// </summary>
    [Theory]
    [InlineData("adam", 1e-3)]
    [InlineData("momentum", 5e-4)]
    public void OneSampleStepsGiveTheSameBitsOnEveryThreadCount(string optimizer, double decay)
    {
        const int steps = 6;
        (float[][] Weights, float[][] State, List<StepResult> Results, long) reference;
        using (new ThreadCountScope(1)) reference = Train<float>(optimizer, decay, guarded: true, steps, batchSize: 1);
        foreach (int threads in new[] { 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            foreach (bool guarded in new[] { true, false })
            {
                var (weights, state, results, _) = Train<float>(optimizer, decay, guarded, steps, batchSize: 1);
                string what = $"{optimizer} decay {decay}, batch 1, {(guarded ? "guarded" : "unguarded")}, {threads} thread(s)";
                FusedSgdTests.AssertSameBits(reference.Weights, weights, what + ", weights");
                FusedSgdTests.AssertSameBits(reference.State, state, what + ", optimiser state");
                Assert.Equal(reference.Results, results);
            }
        }
    }

    [Fact]
    public void APieceOfTheUpdateIsReadyOnlyOnceTheBackwardPassOfItsLayerIsDone()
    {
        var network = TrainerResumeAndGuardTests.Network<float>(7, Spec);
        var optimizer = new Adam<float>(network.Parameters, 0.01);
        var rng = new Rng(11);
        foreach (var p in optimizer.Parameters)
            for (int i = 0; i < p.Length; i++) p.Gradient[i] = (float)(rng.NextDouble() - 0.5);
        var expected = TrainerResumeAndGuardTests.Network<float>(7, Spec);
        var parameters = network.Parameters.ToArray();
        var expectedParameters = expected.Parameters.ToArray();
        for (int i = 0; i < parameters.Length; i++) parameters[i].Gradient.CopyTo(expectedParameters[i].Gradient, 0);
        new Adam<float>(expected.Parameters, 0.01).Step();

        var update = new OverlappedUpdate<float>(network, optimizer);
        int layers = network.Layers.Count;
        var before = parameters.Select(p => (float[])p.Value.Clone()).ToArray();
        update.Begin();
        try
        {
            while (update.TryRunPiece())
            {
            }
            AssertChanged(fromLayer: layers); // nothing is ready before a layer is done
            for (int k = layers - 1; k >= 0; k--)
            {
                update.LayersDone(k);
                while (update.TryRunPiece())
                {
                }
                AssertChanged(fromLayer: k);
            }
        }
        finally
        {
            update.Finish();
        }
        FusedSgdTests.AssertSameBits(expectedParameters.Select(p => p.Value).ToArray(), parameters.Select(p => p.Value).ToArray(), "after Finish");
        Assert.Equal(1, optimizer.StepCount);

        // Exactly the trained parameters of layers fromLayer .. last have moved (batch norm's running statistics never do).
        void AssertChanged(int fromLayer)
        {
            int index = 0;
            for (int k = 0; k < layers; k++)
                foreach (var p in network.Layers[k].Parameters)
                {
                    bool moved = !p.Value.AsSpan().SequenceEqual(before[index++]);
                    Assert.True(moved == (k >= fromLayer && p.IsTrained && p.Length > 0), $"layer {k} ({network.Layers[k].Token}) after layers {fromLayer}.. were done: moved {moved}");
                }
        }
    }

    /// <summary>One-sample steps on 2 threads, whose dense layer of 300 rows is cut by its owned slices (the slices' sums in reused scratch).</summary>
    [Theory]
    [InlineData("adam", false)]
    [InlineData("adam", true)]
    [InlineData("momentum", true)]
    [InlineData("sgd", true)]
    public void AOneSampleStepOnTwoThreadsAllocatesNothing(string optimizer, bool guarded)
    {
        using var scope = new ThreadCountScope(2);
        var network = TrainerResumeAndGuardTests.Network<float>(7, Spec);
        var options = new TrainingOptions { BatchSize = 1, Optimizer = optimizer, LearningRate = 0.002 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = guarded };
        Assert.Equal(0, FewestBytesPerFiveSteps(step, [5]));
    }

    /// <summary>The fewest bytes this thread allocated over five steps, in three rounds after five steps of warm-up.</summary>
    private static long FewestBytesPerFiveSteps(TrainingStep<float> step, int[] batch)
    {
        for (int s = 0; s < 5; s++) step.Run(Data, batch);
        long fewest = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long start = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 0; s < 5; s++) step.Run(Data, batch);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - start);
        }
        return fewest;
    }

    [Fact]
    public void AnOverlappedStepAllocatesNothing()
    {
        using var scope = new ThreadCountScope(2);
        var network = TrainerResumeAndGuardTests.Network<float>(7, Spec);
        var options = new TrainingOptions { BatchSize = 20, Optimizer = "adam", LearningRate = 0.002 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = false };
        Assert.Equal(0, FewestBytesPerFiveSteps(step, Enumerable.Range(0, 20).ToArray()));
        Assert.Equal(20, step.OverlappedSteps);
    }
}
