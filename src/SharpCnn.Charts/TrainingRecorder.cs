using SharpCnn.Training;

namespace SharpCnn.Charts;

/// <summary>
/// Fills a <see cref="TrainingHistory"/> from a <see cref="Trainer{T}"/>: each step's loss, accuracy and learning
/// rate (a step hook), each epoch's figures (<see cref="Trainer{T}.EpochCompleted"/>) and, every
/// <see cref="LayerStatistics{T}.Every"/> steps, the gradient norms and update ratios of a
/// <see cref="LayerStatistics{T}"/> it adds to the trainer. It only reads: the run trains to the same bits.
/// </summary>
public sealed class TrainingRecorder<T> : ITrainingStepHook<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Trainer<T> trainer;

    /// <summary>Watches <paramref name="trainer"/>, measuring the per-layer statistics every <paramref name="statisticsEvery"/> steps.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="statisticsEvery"/> is less than 1.</exception>
    public TrainingRecorder(Trainer<T> trainer, int statisticsEvery = 10)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        this.trainer = trainer;
        Statistics = new LayerStatistics<T>(trainer.Network, statisticsEvery);
        History = new TrainingHistory(Statistics.Parameters);
        Statistics.Measured += s => History.AddStatistics(s.Step, s.GradientNorm, s.UpdateRatio);
        trainer.StepHooks.Add(Statistics);
        trainer.StepHooks.Add(this);
        trainer.EpochCompleted += OnEpoch;
    }

    /// <summary>What has been recorded so far.</summary>
    public TrainingHistory History { get; }

    /// <summary>The statistics measured for the gradient and update charts.</summary>
    public LayerStatistics<T> Statistics { get; }

    /// <summary>A measuring interval that gives about <paramref name="points"/> measurements over <paramref name="totalSteps"/> steps.</summary>
    public static int EveryFor(long totalSteps, int points = 400) =>
        (int)Math.Clamp(totalSteps / Math.Max(points, 1), 1, int.MaxValue);

    void ITrainingStepHook<T>.Updated(TrainingStep<T> step, in StepResult result) =>
        History.AddStep(step.Optimizer.StepCount, result.Loss, result.Count == 0 ? double.NaN : (double)result.Correct / result.Count, step.Optimizer.LearningRate);

    private void OnEpoch(EpochResult e)
    {
        var held = e.Validation ?? e.Test;
        if (e.Validation is not null) History.HeldOutName = "validation";
        History.AddEpoch(new EpochPoint(e.Epoch, trainer.Optimizer.StepCount, e.TrainLoss, e.TrainAccuracy, held?.Loss ?? double.NaN, held?.Accuracy ?? double.NaN));
    }
}
