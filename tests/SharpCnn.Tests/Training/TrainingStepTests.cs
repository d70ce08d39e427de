using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>The one training step: today's arithmetic bit for bit, its guard, its hooks, and no allocation.</summary>
public sealed class TrainingStepTests
{
    private const string Spec = "conv3x3x4,batchnorm,relu,maxpool2,dropout0.25,flatten,dense3";

    private static readonly ImageDataSet Data = TrainerResumeAndGuardTests.Data(64);

    private static Network<T> Network<T>(ulong seed = 3) where T : unmanaged, IFloatingPointIeee754<T> =>
        TrainerResumeAndGuardTests.Network<T>(seed, Spec);

    private static T[][] Weights<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T> =>
        network.Parameters.Select(p => (T[])p.Value.Clone()).ToArray();

    /// <summary>The trained parameters (the forward pass moves batch norm's running statistics, which are not).</summary>
    private static T[][] Trained<T>(TrainingStep<T> step) where T : unmanaged, IFloatingPointIeee754<T> =>
        step.Optimizer.Parameters.Select(p => (T[])p.Value.Clone()).ToArray();

    private static void AssertSameBits<T>(T[][] expected, T[][] actual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MemoryMarshal.AsBytes(expected[i].AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual[i].AsSpan())), $"parameter {i} differs");
    }

    private static int[] Batch(int step, int n) => Enumerable.Range(step * n % Data.Count, n).ToArray();

    [Theory]
    [InlineData("momentum")]
    [InlineData("adam")]
    public void AStepIsLoadZeroSeedForwardBackwardUpdateBitForBit(string optimizer)
    {
        // The step as the trainer wrote it out before there was a TrainingStep (no clipping, constant rate).
        var options = new TrainingOptions { BatchSize = 8, Optimizer = optimizer, LearningRate = 0.05, Seed = 9, WeightDecay = 1e-3 };
        var reference = Network<float>();
        var referenceOptimizer = options.CreateOptimizer(reference.Parameters);
        reference.Reserve(8);
        var labels = new int[8];
        var expected = new List<(double Loss, int Correct)>();
        for (int s = 0; s < 6; s++)
        {
            Data.CopyBatch<float>(Batch(s, 8), reference.Input(8), labels);
            reference.ZeroGradients();
            reference.SetStep(options.Seed, referenceOptimizer.StepCount);
            var output = reference.Forward(8);
            int correct = 0;
            for (int i = 0; i < 8; i++)
                if (Evaluator.ArgMax(output.Slice(i * 3, 3)) == labels[i]) correct++;
            expected.Add((reference.Backward(labels, 8), correct));
            referenceOptimizer.Step();
        }

        var network = Network<float>();
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        for (int s = 0; s < 6; s++)
        {
            var result = step.Run(Data, Batch(s, 8));
            Assert.Null(result.Divergence);
            Assert.Equal(8, result.Count);
            Assert.Equal(expected[s], (result.Loss, result.Correct));
        }
        Assert.Equal(6, step.Optimizer.StepCount);
        AssertSameBits(Weights(reference), Weights(network));
    }

    [Fact]
    public void ClippingBoundsTheUpdateAndTheScheduleSetsTheRate()
    {
        // Plain SGD: the update is -η times the clipped gradients, whose global norm is the clipping norm.
        var network = Network<double>();
        var options = new TrainingOptions { BatchSize = 16, LearningRate = 0.1, ClipNorm = 1e-3, Schedule = LearningRateSchedule.Cosine, Epochs = 2 };
        var step = new TrainingStep<double>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        Assert.Equal((16, 4L, 8L), (step.BatchSize, step.StepsPerEpoch, step.TotalSteps));
        for (int s = 0; s < 3; s++)
        {
            var before = Weights(network);
            double rate = options.Schedule.Rate(options.LearningRate, s, step.StepsPerEpoch, step.TotalSteps);
            Assert.False(step.Run(Data, Batch(s, 16)).Diverged);
            Assert.Equal(rate, step.Optimizer.LearningRate);
            var trained = step.Optimizer.Parameters.ToHashSet();
            double moved = Math.Sqrt(network.Parameters.Zip(before).Where(p => trained.Contains(p.First))
                .Sum(p => p.First.Value.Zip(p.Second).Sum(v => (v.First - v.Second) * (v.First - v.Second))));
            Assert.Equal(options.ClipNorm, moved / rate, 1e-9);
        }
    }

    [Fact]
    public void AnExplodingOutputStopsTheStepBeforeTheUpdate()
    {
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 4, LearningRate = 0.1 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        network.Layers[^1].Parameters[0].Value.AsSpan().Fill(1e7f);
        var before = Trained(step);
        var result = step.Run(Data, Batch(0, 4), epoch: 5);
        Assert.True(result.Diverged);
        Assert.True(double.IsNaN(result.Loss));
        Assert.StartsWith("layer 7 'dense3' output max |x| = ", result.Divergence!.Describe());
        Assert.EndsWith("(limit 1e+06) at step 1, epoch 5", result.Divergence.Describe());
        Assert.Equal(0, step.Optimizer.StepCount);
        AssertSameBits(before, Trained(step));
    }

    [Fact]
    public void AStepStoppedAfterItsForwardPassLeavesEveryGradientZero()
    {
        // The dense layer's weight gradient is not cleared before the backward pass that writes it whole (Parameter.Uncleared):
        // a step that never reaches that pass must still clear it, not leave the last step's gradient behind.
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 4, LearningRate = 0.1 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        Assert.False(step.Run(Data, Batch(0, 4)).Diverged);
        var dense = network.Layers[^1].Parameters[0];
        Assert.Contains(dense.Gradient, g => g != 0f);
        dense.Value.AsSpan().Fill(1e7f);
        Assert.True(step.Run(Data, Batch(1, 4)).Diverged);
        foreach (var p in network.Parameters)
        {
            Assert.False(p.Uncleared, $"{p.Name} is still marked uncleared");
            Assert.All(p.Gradient, g => Assert.Equal(0f, g));
        }
    }

    [Fact]
    public void AnUnguardedStepChecksNothingAndUpdates()
    {
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 4, LearningRate = 0.1 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count) { Guarded = false };
        Assert.True(new TrainingStep<float>(network, step.Optimizer, options, Data.Count).Guarded);
        network.Layers[^1].Parameters[0].Value.AsSpan().Fill(1e7f);
        var result = step.Run(Data, Batch(0, 4));
        Assert.Null(result.Divergence);
        Assert.Equal(1, step.Optimizer.StepCount);
        float largest = 0;
        foreach (float v in network.Output(4)) largest = Math.Max(largest, Math.Abs(v));
        Assert.True(largest > 1e6, $"largest output {largest}"); // what the guard stops a guarded step on
    }

    /// <summary>Writes down which phase ran with what; optionally spoils a gradient or blanks the inputs.</summary>
    private sealed class Recorder : ITrainingStepHook<float>
    {
        public List<string> Events { get; } = [];

        public bool SpoilGradient { get; init; }

        public bool BlankInputs { get; init; }

        public void BatchLoaded(TrainingStep<float> step, int n)
        {
            Events.Add($"loaded {n}: labels {string.Join(" ", step.Labels(n).ToArray())}");
            if (BlankInputs) step.Network.Input(n).Clear();
        }

        public void Forwarded(TrainingStep<float> step, int n) => Events.Add($"forwarded {n}, step count {step.Optimizer.StepCount}");

        public void BackwardDone(TrainingStep<float> step, int n, double loss)
        {
            Events.Add($"backward {n}: loss {loss:R}");
            if (SpoilGradient) step.Network.Layers[0].Parameters[0].Gradient[2] = float.NaN;
        }

        public void Updated(TrainingStep<float> step, in StepResult result) => Events.Add($"updated {result.Count}: loss {result.Loss:R}, step count {step.Optimizer.StepCount}");
    }

    [Fact]
    public void HooksRunBetweenThePhasesInOrder()
    {
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 4, LearningRate = 0.1 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        var first = new Recorder();
        var second = new Recorder();
        step.Hooks.Add(first);
        step.Hooks.Add(second);
        var result = step.Run(Data, [3, 1, 4]);
        string labels = string.Join(" ", new[] { 3, 1, 4 }.Select(Data.Label));
        Assert.Equal([$"loaded 3: labels {labels}", "forwarded 3, step count 0", $"backward 3: loss {result.Loss:R}", $"updated 3: loss {result.Loss:R}, step count 1"], first.Events);
        Assert.Equal(first.Events, second.Events);
    }

    [Fact]
    public void ALoadHookCanChangeTheInputsAndABackwardHookTheGradients()
    {
        // Blank inputs: the loss is the one of a batch of zeros.
        var blank = Network<float>();
        var options = new TrainingOptions { BatchSize = 4, LearningRate = 0.1 };
        var step = new TrainingStep<float>(blank, options.CreateOptimizer(blank.Parameters), options, Data.Count);
        step.Hooks.Add(new Recorder { BlankInputs = true });
        double loss = step.Run(Data, Batch(0, 4)).Loss;
        var zeros = Network<float>();
        zeros.Reserve(4);
        var labels = new int[4];
        Data.CopyBatch<float>(Batch(0, 4), new float[4 * 64], labels);
        zeros.SetStep(options.Seed, 0);
        zeros.Forward(new float[4 * 64], 4);
        Assert.Equal(zeros.Backward(labels, 4), (float)loss);

        // A NaN put into a gradient after the backward pass is caught by the guard, before the update.
        var network = Network<float>();
        var spoiled = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        spoiled.Hooks.Add(new Recorder { SpoilGradient = true });
        var before = Trained(spoiled);
        var result = spoiled.Run(Data, Batch(0, 4));
        Assert.Equal("layer 1 'conv3x3x4' weight gradient contains NaN at step 1, epoch 1", result.Divergence?.Describe());
        Assert.Equal(0, spoiled.Optimizer.StepCount);
        AssertSameBits(before, Trained(spoiled));
    }

    [Fact]
    public void TheTrainerRunsItsStepHooks()
    {
        var recorder = new Recorder();
        var trainer = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 16, LearningRate = 0.1, MaxSteps = 3 });
        trainer.StepHooks.Add(recorder);
        trainer.Fit(Data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(12, recorder.Events.Count);
        Assert.Equal(["step count 1", "step count 2", "step count 3"], recorder.Events.Where(e => e.StartsWith("updated", StringComparison.Ordinal)).Select(e => e[(e.IndexOf("step count", StringComparison.Ordinal))..]));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void AStepAllocatesNothing(double clipNorm)
    {
        // Guard, batch norm, dropout, a cosine schedule, clipping or not, and a hook.
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 8, Optimizer = "adam", LearningRate = 1e-3, ClipNorm = clipNorm, Schedule = LearningRateSchedule.Cosine };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, Data.Count);
        step.Hooks.Add(new CountingHook());
        var batch = Batch(0, 8);
        step.Run(Data, batch);
        step.Run(Data, batch);
        // Tiered compilation may allocate on this thread now and then; a step that allocates would do so in every round.
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) step.Run(Data, batch);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    private sealed class CountingHook : ITrainingStepHook<float>
    {
        public int Steps { get; private set; }

        public void Updated(TrainingStep<float> step, in StepResult result) => Steps++;
    }

    [Fact]
    public void BadBatchesAndOptionsAreRefusedWithAReason()
    {
        var network = Network<float>();
        var options = new TrainingOptions { BatchSize = 4 };
        var step = new TrainingStep<float>(network, options.CreateOptimizer(network.Parameters), options, 3);
        Assert.Equal(3, step.BatchSize); // never more than the data
        Assert.Contains("1 to 3 samples", Assert.Throws<ArgumentOutOfRangeException>(() => step.Run(Data, [1, 2, 3, 4])).Message);
        Assert.Contains("1 to 3 samples", Assert.Throws<ArgumentOutOfRangeException>(() => step.Run(Data, [])).Message);
        Assert.Contains("the learning rate must be a positive number",
            Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingStep<float>(network, step.Optimizer, options with { LearningRate = -1 }, 3)).Message);
        Assert.Contains("at least one sample", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingStep<float>(network, step.Optimizer, options, 0)).Message);
    }
}
