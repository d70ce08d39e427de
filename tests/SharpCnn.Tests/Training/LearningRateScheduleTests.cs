using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

public class LearningRateScheduleTests
{
    [Fact]
    public void ConstantKeepsTheRate() =>
        Assert.Equal(0.3, LearningRateSchedule.Constant.Rate(0.3, 12345, 10, 100));

    [Fact]
    public void CosineFallsFromTheRateToZeroThroughHalfAtMidRun()
    {
        var s = LearningRateSchedule.Cosine;
        Assert.Equal(0.2, s.Rate(0.2, 0, 10, 100), 15);
        Assert.Equal(0.1, s.Rate(0.2, 50, 10, 100), 15);
        Assert.Equal(0.2 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.Rate(0.2, 25, 10, 100), 15);
        Assert.True(s.Rate(0.2, 99, 10, 100) > 0);
        Assert.Equal(0, s.Rate(0.2, 100, 10, 100), 15);
    }

    [Fact]
    public void StepDecaysEveryEEpochs()
    {
        var s = LearningRateSchedule.Parse("step:2:0.5");
        Assert.Equal(1.0, s.Rate(1, 0, 10, 100));
        Assert.Equal(1.0, s.Rate(1, 19, 10, 100));
        Assert.Equal(0.5, s.Rate(1, 20, 10, 100));
        Assert.Equal(0.25, s.Rate(1, 45, 10, 100));
    }

    [Theory]
    [InlineData("constant")]
    [InlineData("cosine")]
    [InlineData("step:10:0.1")]
    public void TextRoundTrips(string text) => Assert.Equal(text, LearningRateSchedule.Parse(text).ToString());

    [Theory]
    [InlineData("linear", "unknown learning-rate schedule 'linear'")]
    [InlineData("step", "write step:{E}:{f}")]
    [InlineData("step:0:0.1", "E >= 1")]
    [InlineData("step:5:2", "0 < f <= 1")]
    [InlineData("step:5:x", "0 < f <= 1")]
    public void BadTextSaysWhatIsExpected(string text, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => LearningRateSchedule.Parse(text)).Message);

    [Fact]
    public void TheTrainerAppliesTheScheduleToEveryStep()
    {
        var (train, _) = BundledDigits.Load();
        train = train.Take(40);
        var net = ModelSpec.Parse("flatten,dense10").Build<double>(train.Shape);
        Initializer.Apply(net.Layers, InitScheme.Xavier, new Rng(1));
        var trainer = new Trainer<double>(net, new TrainingOptions { BatchSize = 10, Epochs = 3, LearningRate = 0.4, Schedule = LearningRateSchedule.Parse("step:1:0.5") });
        var seen = new List<double>();
        trainer.Progress += _ => seen.Add(trainer.Optimizer.LearningRate);
        trainer.Fit(train, cancellation: TestContext.Current.CancellationToken);
        // 4 steps an epoch, progress after each: 0.4 in epoch 1, 0.2 in epoch 2, 0.1 in epoch 3.
        Assert.Equal([0.4, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1], seen);
    }
}
