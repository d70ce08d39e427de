using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

public sealed class TrainerResumeAndGuardTests : IDisposable
{
    private const string Spec = "conv3x3x4,relu,maxpool2,flatten,dense3";
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-trainer-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Random 8x8 images; the label is which third of the image is brightest, so there is something to learn.</summary>
    internal static ImageDataSet Data(int count, ulong seed = 5)
    {
        var rng = new Rng(seed);
        var pixels = new byte[count * 64];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)rng.NextInt(3);
            for (int p = 0; p < 64; p++)
                pixels[i * 64 + p] = (byte)(rng.NextInt(128) + (p % 8 / 3 == labels[i] ? 100 : 0));
        }
        return new ImageDataSet(pixels, labels, 8, 8, 3);
    }

    internal static Network<T> Network<T>(ulong seed = 3, string spec = Spec) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var network = ModelSpec.Parse(spec).Build<T>(new Shape(1, 8, 8));
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(seed));
        return network;
    }

    private static T[][] Weights<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T> =>
        network.Parameters.Select(p => (T[])p.Value.Clone()).ToArray();

    private static void AssertBitIdentical<T>(T[][] expected, Network<T> actual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var parameters = actual.Parameters.ToArray();
        Assert.Equal(expected.Length, parameters.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            var a = System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected[i].AsSpan());
            var b = System.Runtime.InteropServices.MemoryMarshal.AsBytes(parameters[i].Value.AsSpan());
            Assert.True(a.SequenceEqual(b), $"parameter {i} differs");
        }
    }

    [Fact]
    public void ATrainingStepAllocatesNothing()
    {
        // Guard, clipping and all: a run of 60 steps allocates exactly what a run of 10 does.
        var data = Data(256);
        var options = new TrainingOptions { BatchSize = 4, Optimizer = "adam", LearningRate = 1e-3, ClipNorm = 0.5, Epochs = 1 };
        long Allocated(long steps)
        {
            var trainer = new Trainer<float>(Network<float>(), options with { MaxSteps = steps });
            long before = GC.GetAllocatedBytesForCurrentThread();
            var result = trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(steps, result.Steps);
            return allocated;
        }
        Allocated(10); // warm-up: JIT and first-use costs
        // A per-step allocation shows in every attempt (50 more steps, 50 times the bytes); a one-off runtime
        // allocation on this thread (a method promoted by tiered compilation while the suite loads the cores,
        // 224 B once, in either run) shows in one attempt only, so one of three attempts must show no difference.
        var extra = new List<long>();
        for (int attempt = 0; attempt < 3 && !extra.Contains(0); attempt++)
            extra.Add(Allocated(60) - Allocated(10));
        Assert.True(extra.Contains(0), $"60 steps allocated more or less than 10 in every attempt: {string.Join(", ", extra)} bytes");
    }

    [Fact]
    public void TheRunStopsAtTheStepCapAndAfterTheEpochs()
    {
        var data = Data(40);
        var capped = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 4, Epochs = 5, MaxSteps = 13, LearningRate = 0.01 }).Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("step cap (13 steps)", capped.StopReason);
        Assert.Equal(2, capped.Epochs.Count); // 10 steps per epoch: the cap falls in epoch 2
        Assert.Equal(13, capped.Steps);
        var epochs = new List<EpochResult>();
        var trainer = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 8, Epochs = 3, LearningRate = 0.01 });
        trainer.EpochCompleted += epochs.Add;
        var full = trainer.Fit(data, Data(20, 9), cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("epochs (3)", full.StopReason);
        Assert.Equal([1, 2, 3], epochs.Select(e => e.Epoch));
        Assert.All(epochs, e => Assert.NotNull(e.Test));
        Assert.Equal(15, full.Steps);
        Assert.False(full.Diverged);
    }

    [Fact]
    public void TheStopThresholdEndsARunThatNoLongerMoves()
    {
        var result = new Trainer<double>(Network<double>(), new TrainingOptions { BatchSize = 8, Epochs = 10, LearningRate = 1e-12, StopEpsilon = 1e-6 }).Fit(Data(32), cancellation: TestContext.Current.CancellationToken);
        Assert.StartsWith("converged (no parameter moved by 1E-06 or more in epoch 1", result.StopReason);
        Assert.Single(result.Epochs);
    }

    public static TheoryData<string, bool> Optimizers() => new() { { "sgd", false }, { "momentum", true }, { "adam", false }, { "adam", true } };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void AResumedRunEndsBitIdenticalFromAnyCheckpoint(string optimizer, bool doublePrecision)
    {
        if (doublePrecision) ResumeFromEveryCheckpoint<double>(optimizer);
        else ResumeFromEveryCheckpoint<float>(optimizer);
    }

    [Fact]
    public void ARunWithBatchNormDropoutAScheduleAndWeightDecayResumesBitIdentical() =>
        // Batch-norm running statistics (state, not trained), step-seeded dropout masks, a step-decay
        // schedule and weight decay must all come back from a checkpoint.
        ResumeFromEveryCheckpoint<float>("momentum", "conv3x3x4,batchnorm,relu,maxpool2,dropout0.3,flatten,dense6,batchnorm,relu,dense3",
            o => o with { Schedule = LearningRateSchedule.StepDecay(1, 0.5), WeightDecay = 1e-3 });

    private void ResumeFromEveryCheckpoint<T>(string optimizer, string spec = Spec, Func<TrainingOptions, TrainingOptions>? adjust = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // 66 samples in batches of 5: 14 steps an epoch, the last one of 1 sample; checkpoints every 4 steps
        // fall mid-epoch, on no epoch boundary, and the final one at the next epoch's start. The stop
        // threshold is on (but never reached), so the epoch-start snapshot is part of the state.
        var data = Data(66);
        string path = Path.Combine(dir, $"run-{optimizer}.scnn");
        var options = new TrainingOptions
        {
            Epochs = 3, BatchSize = 5, Optimizer = optimizer, LearningRate = optimizer == "adam" ? 0.01 : 0.05,
            StopEpsilon = 1e-30, ClipNorm = 2, CheckpointEvery = 4, CheckpointPath = path, Seed = 17,
        };
        if (adjust is not null) options = adjust(options);
        var trainer = new Trainer<T>(Network<T>(spec: spec), options);
        var saved = new List<(long Step, string File)>();
        trainer.CheckpointSaved += c =>
        {
            string copy = Path.Combine(dir, $"{optimizer}-{typeof(T).Name}-{c.Step}-{saved.Count}.scnn");
            File.Copy(c.Path, copy);
            saved.Add((c.Step, copy));
        };
        var uninterrupted = trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        var expected = Weights(trainer.Network);
        Assert.Equal("epochs (3)", uninterrupted.StopReason);
        Assert.Equal(42, uninterrupted.Steps);
        Assert.Equal([0L, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 42], saved.Select(s => s.Step));

        foreach (var (step, file) in saved[..^1])
        {
            var resumed = Trainer<T>.Resume(file);
            Assert.Equal(step, resumed.Optimizer.StepCount);
            Assert.Equal(options with { CheckpointPath = file }, resumed.Options);
            var result = resumed.Fit(data, cancellation: TestContext.Current.CancellationToken);
            Assert.Equal(uninterrupted.StopReason, result.StopReason);
            AssertBitIdentical(expected, resumed.Network);
            // The running statistics were restored too: the last epoch's figures are the same.
            Assert.Equal(uninterrupted.Epochs[^1].TrainLoss, result.Epochs[^1].TrainLoss);
            Assert.Equal(uninterrupted.Epochs[^1].TrainAccuracy, result.Epochs[^1].TrainAccuracy);
            Assert.Equal(uninterrupted.Epochs[^1].MaxParameterChange, result.Epochs[^1].MaxParameterChange);
        }

        // The final checkpoint continues into more epochs exactly as a longer run would.
        var longer = new Trainer<T>(Network<T>(spec: spec), options with { Epochs = 4, CheckpointEvery = 0 });
        longer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        var extended = Trainer<T>.Resume(saved[^1].File, o => o with { Epochs = 4 });
        extended.Fit(data, cancellation: TestContext.Current.CancellationToken);
        AssertBitIdentical(Weights(longer.Network), extended.Network);
    }

    [Fact]
    public void ARunCutShortByTheStepCapContinuesWhereItStopped()
    {
        var data = Data(66);
        var options = new TrainingOptions { Epochs = 2, BatchSize = 5, Optimizer = "momentum", LearningRate = 0.05, StopEpsilon = 1e-30 };
        var whole = new Trainer<double>(Network<double>(), options);
        var expected = whole.Fit(data, cancellation: TestContext.Current.CancellationToken);
        string path = Path.Combine(dir, "capped.scnn");
        var capped = new Trainer<double>(Network<double>(), options with { MaxSteps = 9, CheckpointEvery = 100, CheckpointPath = path }).Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal("step cap (9 steps)", capped.StopReason);
        Assert.Equal((9L, 1, 45), (CheckpointFile.ReadHeader(path).Training!.Steps, CheckpointFile.ReadHeader(path).Training!.Epoch, CheckpointFile.ReadHeader(path).Training!.Position));
        var rest = Trainer<double>.Resume(path, o => o with { MaxSteps = 0, CheckpointEvery = 0 });
        var result = rest.Fit(data, cancellation: TestContext.Current.CancellationToken);
        AssertBitIdentical(Weights(whole.Network), rest.Network);
        Assert.Equal(expected.Epochs.Select(e => (e.Epoch, e.TrainLoss, e.MaxParameterChange)), result.Epochs.Select(e => (e.Epoch, e.TrainLoss, e.MaxParameterChange)));
    }

    [Fact]
    public void ResumingOnOtherDataOrWithAnotherOptimiserIsRefused()
    {
        string path = Path.Combine(dir, "c.scnn");
        new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 4, MaxSteps = 3, CheckpointEvery = 2, CheckpointPath = path }).Fit(Data(20), cancellation: TestContext.Current.CancellationToken);
        var other = Assert.Throws<ArgumentException>(() => Trainer<float>.Resume(path).Fit(Data(20, seed: 6), cancellation: TestContext.Current.CancellationToken));
        Assert.Contains("differ: resume on the same training data", other.Message);
        Assert.Contains("cannot resume with adam", Assert.Throws<ArgumentException>(() => Trainer<float>.Resume(path, o => o with { Optimizer = "adam" })).Message);
        Assert.Contains("resume it in the same precision", Assert.Throws<ArgumentException>(() => Trainer<double>.Resume(path)).Message);
        var plain = Path.Combine(dir, "plain.scnn");
        ModelFile.Save(Network<float>(), plain);
        Assert.Contains("expected a checkpoint", Assert.Throws<FileFormatException>(() => Trainer<float>.Resume(plain)).Message);
    }

    [Fact]
    public void ACheckpointIsAModelFile()
    {
        string path = Path.Combine(dir, "c.scnn");
        var trainer = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 4, MaxSteps = 5, CheckpointEvery = 5, CheckpointPath = path, Optimizer = "momentum" });
        trainer.Fit(Data(40), cancellation: TestContext.Current.CancellationToken);
        AssertBitIdentical(Weights(trainer.Network), ModelFile.Load<float>(path));
        var header = CheckpointFile.ReadHeader(path);
        Assert.Equal(ModelFile.CheckpointVersion, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(File.ReadAllBytes(path).AsSpan(8)));
        Assert.Equal(5, header.Training!.Steps);
        Assert.Equal("momentum", header.Training.Optimizer);
        Assert.Equal(["optimizer.0", "optimizer.1", "optimizer.2", "optimizer.3", "order"], header.Training.Arrays.Select(a => a.Name));
    }

    [Fact]
    public void LabelsBeyondTheOutputsAndUnusableOptionsAreRefusedUpFront()
    {
        var net = Network<float>(spec: "flatten,dense2");
        Assert.Contains("labels up to 2, but the model has only 2 outputs", Assert.Throws<ArgumentException>(() => new Trainer<float>(net, new TrainingOptions()).Fit(Data(30), cancellation: TestContext.Current.CancellationToken)).Message);
        Assert.Equal("epochs must be at least 1, not 0", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer<float>(net, new TrainingOptions { Epochs = 0 })).Message.Split(" (Parameter")[0]);
        Assert.Contains("checkpoints need a file", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer<float>(net, new TrainingOptions { CheckpointEvery = 3 })).Message);
        Assert.Contains("clipping norm", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer<float>(net, new TrainingOptions { ClipNorm = double.NaN })).Message);
    }

    [Fact]
    public void ANaNWeightStopsTheFirstStepNamingTheLayer()
    {
        var net = Network<float>();
        net.Layers[0].Parameters[0].Value[4] = float.NaN;
        var before = Weights(net);
        var trainer = new Trainer<float>(net, new TrainingOptions { BatchSize = 4, Epochs = 2 });
        var result = trainer.Fit(Data(40), cancellation: TestContext.Current.CancellationToken);
        Assert.True(result.Diverged);
        var found = result.Divergence!;
        Assert.Equal((1L, 1, 1, "conv3x3x4", "output"), (found.Step, found.Epoch, found.Layer, found.Token, found.Quantity));
        Assert.True(double.IsNaN(found.Value));
        Assert.Equal("diverged (layer 1 'conv3x3x4' output contains NaN at step 1, epoch 1)", result.StopReason);
        Assert.Equal(0, trainer.Optimizer.StepCount); // stopped before the update
        AssertBitIdentical(before, net);
    }

    [Fact]
    public void AnExplodingLayerIsNamedWithItsLargestValue()
    {
        var net = Network<float>();
        foreach (ref float w in net.Layers[4].Parameters[0].Value.AsSpan()) w *= 1e8f;
        var result = new Trainer<float>(net, new TrainingOptions { BatchSize = 4 }).Fit(Data(40), cancellation: TestContext.Current.CancellationToken);
        var found = result.Divergence!;
        Assert.Equal((5, "dense3", "output"), (found.Layer, found.Token, found.Quantity));
        Assert.InRange(found.Value, 1e6, 1e12);
        Assert.Matches(@"^layer 5 'dense3' output max \|x\| = \d\.\d+e\+\d\d \(limit 1e\+06\) at step 1, epoch 1$", found.Describe());
        // With the limit off only non-finite values stop it.
        var unlimited = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 4, ExplosionLimit = 0, MaxSteps = 1 });
        foreach (ref float w in unlimited.Network.Layers[4].Parameters[0].Value.AsSpan()) w *= 1e8f;
        Assert.False(unlimited.Fit(Data(40), cancellation: TestContext.Current.CancellationToken).Diverged);
    }

    [Fact]
    public void DivergenceKeepsTheLastGoodCheckpoint()
    {
        string path = Path.Combine(dir, "last-good.scnn");
        var trainer = new Trainer<float>(Network<float>(), new TrainingOptions { BatchSize = 4, Epochs = 3, CheckpointEvery = 2, CheckpointPath = path, ProgressEvery = 1 });
        var atStep5 = Array.Empty<float[]>();
        trainer.Progress += _ =>
        {
            if (trainer.Optimizer.StepCount != 5) return;
            atStep5 = Weights(trainer.Network);
            trainer.Network.Layers[4].Parameters[1].Value[0] = float.PositiveInfinity; // something goes badly wrong after step 5
        };
        var result = trainer.Fit(Data(40), cancellation: TestContext.Current.CancellationToken);
        Assert.True(result.Diverged);
        Assert.Equal("diverged (layer 5 'dense3' output max |x| = inf at step 6, epoch 1)", result.StopReason);
        Assert.Equal(path, result.LastCheckpoint);
        Assert.Equal(4, CheckpointFile.ReadHeader(path).Training!.Steps); // the checkpoint of step 6 was never written
        var good = ModelFile.Load<float>(path);
        Assert.All(good.Parameters, p => Assert.All(p.Value, v => Assert.True(float.IsFinite(v))));
        Assert.Equal(6, Trainer<float>.Resume(path, o => o with { MaxSteps = 6 }).Fit(Data(40), cancellation: TestContext.Current.CancellationToken).Steps); // and it resumes
    }

    [Fact]
    public void TheSeedCnnWithRandInitIsStoppedAtItsFirstStepNamingTheLayer()
    {
        // Seed 000's failure: rand() weights make every layer's output larger than its input's,
        // until the last layers reach 10^6 and more. The guard names the first layer past the limit.
        var preset = Presets.Find("seed-cnn")!;
        var net = ModelSpec.Parse(preset.Spec).Build<float>(new Shape(1, 28, 28), preset.Loss);
        Initializer.Apply(net.Layers, InitScheme.Uniform, new Rng(1));
        var (train, _) = BundledDigits.Load();
        string path = Path.Combine(dir, "seed-cnn.scnn");
        var result = new Trainer<float>(net, new TrainingOptions { BatchSize = 8, Optimizer = "sgd", LearningRate = 0.05, CheckpointEvery = 1, CheckpointPath = path }).Fit(train.Take(64), cancellation: TestContext.Current.CancellationToken);
        Assert.True(result.Diverged);
        Assert.StartsWith("diverged (layer 8 'dense1024' output max |x| = ", result.StopReason);
        Assert.EndsWith("(limit 1e+06) at step 1, epoch 1)", result.StopReason);
        Assert.Equal(path, result.LastCheckpoint);
        Assert.Equal(0, CheckpointFile.ReadHeader(path).Training!.Steps);
        ModelFile.Load<float>(path);
    }
}
