using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>A requested stop finishes the step, writes a checkpoint there, and the resumed run ends bit for bit where an uninterrupted one does.</summary>
public sealed class TrainingStopTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-stop-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static byte[] Bytes(Network<double> network) =>
        network.Parameters.SelectMany(p => p.Value.SelectMany(BitConverter.GetBytes)).ToArray();

    [Theory]
    [InlineData(7, 0)]   // mid-epoch (10 steps per epoch), no periodic checkpoints
    [InlineData(13, 4)]  // mid-epoch 2, between periodic checkpoints
    [InlineData(10, 0)]  // at an epoch's last step: the epoch is evaluated, the checkpoint is at the next one's start
    public void AStopRequestedAfterAStepCheckpointsThereAndTheResumedRunEndsBitIdentical(int stopAfter, long every)
    {
        var data = TrainerResumeAndGuardTests.Data(40);
        var test = TrainerResumeAndGuardTests.Data(12, seed: 9);
        var options = new TrainingOptions { BatchSize = 4, Epochs = 3, Optimizer = "momentum", LearningRate = 0.02, Seed = 4 };
        var ct = TestContext.Current.CancellationToken;

        var whole = TrainerResumeAndGuardTests.Network<double>();
        var full = new Trainer<double>(whole, options).Fit(data, test, ct);
        Assert.False(full.Stopped);

        string checkpoint = Path.Combine(dir, $"stop-{stopAfter}-{every}.ckpt");
        var stopped = new Trainer<double>(TrainerResumeAndGuardTests.Network<double>(), options with { CheckpointPath = checkpoint, CheckpointEvery = every });
        int steps = 0;
        stopped.StepHooks.Add(new StopAfter(stopped, () => ++steps == stopAfter));
        var first = stopped.Fit(data, test, ct);
        Assert.True(first.Stopped, first.StopReason);
        Assert.Equal("stopped (test)", first.StopReason);
        Assert.Equal(stopAfter, first.Steps);
        Assert.Equal(checkpoint, first.LastCheckpoint);
        Assert.True(File.Exists(checkpoint));

        var resumed = Trainer<double>.Resume(checkpoint);
        var rest = resumed.Fit(data, test, ct);
        Assert.False(rest.Stopped);
        Assert.Equal(full.Steps, rest.Steps);
        Assert.Equal(Bytes(whole), Bytes(resumed.Network));
    }

    [Fact]
    public void AStopWithoutACheckpointPathEndsTheRunAndSaysSo()
    {
        var data = TrainerResumeAndGuardTests.Data(40);
        var trainer = new Trainer<float>(TrainerResumeAndGuardTests.Network<float>(), new TrainingOptions { BatchSize = 4, Epochs = 2, LearningRate = 0.01 });
        trainer.Stopping.Request("first");
        trainer.Stopping.Request("second"); // the first reason is kept
        var result = trainer.Fit(data, cancellation: TestContext.Current.CancellationToken);
        Assert.True(result.Stopped);
        Assert.Equal("stopped (first)", result.StopReason);
        Assert.Equal(0, result.Steps);
        Assert.Null(result.LastCheckpoint);
    }

    [Fact]
    public void AnUnrequestedStopChangesNothing()
    {
        var stop = new TrainingStop();
        Assert.False(stop.IsRequested);
        Assert.Null(stop.Reason);
        Assert.Throws<ArgumentException>(() => stop.Request(" "));
        Assert.False(stop.IsRequested);
    }

    /// <summary>Requests the stop at the end of the step for which <paramref name="when"/> first says so.</summary>
    private sealed class StopAfter(Trainer<double> trainer, Func<bool> when) : ITrainingStepHook<double>
    {
        public void Updated(TrainingStep<double> step, in StepResult result)
        {
            if (when()) trainer.Stopping.Request("test");
        }
    }
}
