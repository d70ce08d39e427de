using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>LayerStatistics: the figures of a hand-computed step, one measurement every K steps, no allocation, weights untouched.</summary>
public sealed class LayerStatisticsTests
{
    /// <summary>
    /// x = (1, 0), label 1; dense2 with W1 = [[1, -1], [-2, 1]], b1 = 0; relu; dense2 with W2 = I, b2 = 0; softmax
    /// cross-entropy; plain SGD with η = 0.5. By hand: z1 = (1, -2), h = relu(z1) = (1, 0), z2 = (1, 0),
    /// p = softmax(z2) = (s, 1 - s) with s = e / (e + 1), dz2 = p - (0, 1) = (s, -s); ∂L/∂W2 = dz2 hᵀ = [[s, 0], [-s, 0]],
    /// ∂L/∂b2 = dz2; dh = W2ᵀ dz2 = (s, -s), dz1 = dh ⊙ [z1 > 0] = (s, 0); ∂L/∂W1 = dz1 xᵀ = [[s, 0], [0, 0]], ∂L/∂b1 = (s, 0).
    /// </summary>
    [Fact]
    public void OneStepOfATinyNetworkGivesTheHandComputedFigures()
    {
        var network = ModelFactory.FromSpec<double>("dense2,relu,dense2", new Shape(1, 1, 2));
        var p = network.Parameters.ToArray();
        double[] w1 = [1, -1, -2, 1], w2 = [1, 0, 0, 1];
        w1.CopyTo(p[0].Value, 0);
        Array.Clear(p[1].Value);
        w2.CopyTo(p[2].Value, 0);
        Array.Clear(p[3].Value);
        var data = new ImageDataSet([255, 0], [1], 1, 2, classes: 2);
        var options = new TrainingOptions { BatchSize = 1, Optimizer = "sgd", LearningRate = 0.5, Shuffle = false };
        var step = new TrainingStep<double>(network, options.CreateOptimizer(network.Parameters), options, 1);
        var stats = new LayerStatistics<double>(network, every: 1);
        int raised = 0;
        stats.Measured += s => raised++;
        step.Hooks.Add(stats);
        step.Run(data, [0]);

        double s = Math.E / (Math.E + 1);
        Assert.Equal(1, raised);
        Assert.Equal(1, stats.Step);
        Assert.Equal(["1 dense2", "2 relu", "3 dense2"], stats.LayerNames);
        Assert.Equal(["1 dense2 weight", "1 dense2 bias", "3 dense2 weight", "3 dense2 bias"], stats.Parameters);
        Assert.Equal([0, 0, 2, 2], stats.ParameterLayer);
        // Activations: dense1 (1, -2), relu (1, 0), dense2 (1, 0).
        Assert.Equal([1.5, 0.5, 0.5], stats.MeanAbsActivation);
        Assert.Equal([2.0, 1.0, 1.0], stats.MaxAbsActivation);
        Assert.Equal([0.0, 0.5, 0.5], stats.ZeroFraction);
        // Gradient norms: ‖[[s,0],[0,0]]‖ = s, ‖(s,0)‖ = s, ‖[[s,0],[-s,0]]‖ = s√2, ‖(s,-s)‖ = s√2.
        Assert.Equal(s, stats.GradientNorm[0], 12);
        Assert.Equal(s, stats.GradientNorm[1], 12);
        Assert.Equal(s * Math.Sqrt(2), stats.GradientNorm[2], 12);
        Assert.Equal(s * Math.Sqrt(2), stats.GradientNorm[3], 12);
        // Update ratios: η‖g‖ / ‖θ‖ with ‖W1‖ = √7, ‖W2‖ = √2; the biases were 0, so their ratio is undefined.
        Assert.Equal(0.5 * s / Math.Sqrt(7), stats.UpdateRatio[0], 12);
        Assert.True(double.IsNaN(stats.UpdateRatio[1]));
        Assert.Equal(0.5 * s * Math.Sqrt(2) / Math.Sqrt(2), stats.UpdateRatio[2], 12);
        Assert.True(double.IsNaN(stats.UpdateRatio[3]));
    }

    [Fact]
    public void ItMeasuresEveryKthStepFromTheFirst()
    {
        var network = TrainerResumeAndGuardTests.Network<float>();
        var data = TrainerResumeAndGuardTests.Data(40);
        var trainer = new Trainer<float>(network, new TrainingOptions { BatchSize = 4, Epochs = 2, LearningRate = 0.01 });
        var stats = new LayerStatistics<float>(network, every: 3);
        var steps = new List<long>();
        stats.Measured += s => steps.Add(s.Step);
        trainer.StepHooks.Add(stats);
        trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal([1, 4, 7, 10, 13, 16, 19], steps);
        Assert.All(stats.GradientNorm, g => Assert.True(g > 0 && double.IsFinite(g)));
    }

    [Fact]
    public void TheWeightsAreBitIdenticalToARunWithoutIt()
    {
        var data = TrainerResumeAndGuardTests.Data(40);
        var options = new TrainingOptions { BatchSize = 4, Epochs = 2, Optimizer = "adam", LearningRate = 0.01 };
        var ct = TestContext.Current.CancellationToken;
        var plain = TrainerResumeAndGuardTests.Network<float>();
        new Trainer<float>(plain, options).Fit(data, cancellation: ct);
        var watched = TrainerResumeAndGuardTests.Network<float>();
        var trainer = new Trainer<float>(watched, options);
        trainer.StepHooks.Add(new LayerStatistics<float>(watched, every: 1));
        trainer.Fit(data, cancellation: ct);
        var a = plain.Parameters.ToArray();
        var b = watched.Parameters.ToArray();
        for (int i = 0; i < a.Length; i++)
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }

    [Fact]
    public void AMeasuredStepAllocatesNothing()
    {
        var network = TrainerResumeAndGuardTests.Network<float>();
        var data = TrainerResumeAndGuardTests.Data(64);
        var options = new TrainingOptions { BatchSize = 8, Optimizer = "adam", LearningRate = 1e-3 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, data.Count);
        var stats = new LayerStatistics<float>(network, every: 1);
        long measured = 0;
        stats.Measured += _ => measured++;
        step.Hooks.Add(stats);
        int[] batch = [0, 1, 2, 3, 4, 5, 6, 7];
        step.Run(data, batch);
        step.Run(data, batch);
        // Tiered compilation may allocate on this thread now and then; a step that allocates would do so in every round.
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) step.Run(data, batch);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
        Assert.True(measured >= 7);
    }

    [Fact]
    public void AMinimumIntervalSkipsMeasurementsThatAreNotYetDue()
    {
        var network = TrainerResumeAndGuardTests.Network<float>();
        var data = TrainerResumeAndGuardTests.Data(40);
        var trainer = new Trainer<float>(network, new TrainingOptions { BatchSize = 4, Epochs = 2, LearningRate = 0.01 });
        var stats = new LayerStatistics<float>(network, every: 1) { MinInterval = TimeSpan.FromHours(1) };
        var steps = new List<long>();
        stats.Measured += s => steps.Add(s.Step);
        trainer.StepHooks.Add(stats);
        trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal([1], steps); // the first step, then nothing for an hour
    }

    [Fact]
    public void WhileDisabledNoStepIsMeasuredAndEnabledAgainTheNextStepIs()
    {
        var network = TrainerResumeAndGuardTests.Network<float>();
        var data = TrainerResumeAndGuardTests.Data(40);
        var trainer = new Trainer<float>(network, new TrainingOptions { BatchSize = 4, Epochs = 2, LearningRate = 0.01 });
        var stats = new LayerStatistics<float>(network, every: 1) { MinInterval = TimeSpan.FromHours(1), Enabled = false };
        var steps = new List<long>();
        stats.Measured += s => steps.Add(s.Step);
        trainer.StepHooks.Add(stats);
        trainer.Progress += p => stats.Enabled = trainer.Optimizer.StepCount >= 6; // enabled after step 6
        trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal([7], steps); // none while disabled; then at once (no earlier measurement to wait an hour from)
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(1001)]
    public void ZerosAreCountedAsAPlainLoopCountsThem(int length)
    {
        var random = new Random(length);
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = random.Next(3) switch { 0 => 0f, 1 => -0f, _ => (float)random.NextDouble() - 0.5f };
        if (length > 3) values[3] = float.NaN;
        Assert.Equal(values.Count(v => v == 0), LayerStatistics<float>.Zeros(values));
        var wide = values.Select(v => (double)v).ToArray();
        Assert.Equal(wide.Count(v => v == 0), LayerStatistics<double>.Zeros(wide));
    }
}
