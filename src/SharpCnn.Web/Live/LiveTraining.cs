using System.Diagnostics;
using SharpCnn.Model;
using SharpCnn.Pictures;
using SharpCnn.Training;

namespace SharpCnn.Web.Live;

/// <summary>How often the live page hears of a run.</summary>
public sealed record LiveSettings
{
    /// <summary>Least time between two step events; the steps in between are coalesced into one (their mean loss and accuracy).</summary>
    public TimeSpan StepInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Least time between two per-layer measurements, and so between two per-layer statistics events (<see cref="LayerStatistics{T}.MinInterval"/>).</summary>
    public TimeSpan LayersInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Least time between two pictures of the kernels and feature maps (longer when drawing them takes over 2 % of the time).</summary>
    public TimeSpan PicturesInterval { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Steps between two per-layer measurements (<see cref="LayerStatistics{T}.Every"/>); with <see cref="LayersInterval"/>, only those of them that are due in time are measured.</summary>
    public int StatisticsEvery { get; init; } = 1;

    /// <summary>
    /// How often the publishing thread (<see cref="Background"/>) takes the step and layers frames that wait and publishes
    /// them together (the page redraws its charts at most twice a second); pause, stop, epochs and pictures go out at once.
    /// </summary>
    public TimeSpan PublishInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Serialise and publish the frequent events on a thread of their own (true, the default), so that the training
    /// thread only leaves figures in a queue that never blocks it; false publishes on the training thread, keeping the
    /// events in the exact order of the training (a log written to standard output beside other lines).
    /// </summary>
    public bool Background { get; init; } = true;
}

/// <summary>
/// Feeds a <see cref="LiveEventLog"/> from a <see cref="Trainer{T}"/> and carries out the page's buttons. Events:
/// <c>step</c> (at most one per <see cref="LiveSettings.StepInterval"/>: step, epoch, mean loss and accuracy of the
/// steps since the last event, samples/s over them, seconds left), <c>layers</c> (<see cref="LayerStatistics{T}"/>),
/// <c>epoch</c> (losses, accuracies, confusion matrix), <c>pictures</c> (the first layer's kernels and the feature maps
/// of one fixed image, PNG data URLs), <c>paused</c>, <c>stopping</c>; <see cref="PublishRun"/> and <see cref="Finish"/>
/// add <c>run</c>, <c>guard</c> and <c>done</c>. Pausing holds the training thread after its step on a gate (no busy wait);
/// stop asks the trainer's <see cref="Trainer{T}.Stopping"/> to end after the step, which writes its checkpoint.
/// What it costs the training thread is bounded by design: the per-layer statistics are measured at most once per
/// <see cref="LiveSettings.LayersInterval"/>, a step adds a few numbers to running sums, a step event is a struct left in
/// a queue (<see cref="LiveSettings.Background"/>: the JSON is written on another thread), and neither allocates; only the
/// pictures (at most every <see cref="LiveSettings.PicturesInterval"/>, and at most 2 % of the time) and the epoch events are
/// made on the training thread. While no page is open (<see cref="LiveEventLog.Watched"/>) nothing is measured or drawn
/// and the step frames are kept as figures, not JSON: a page that opens gets the whole run's curves, and the per-layer
/// statistics and pictures from the next step on.
/// </summary>
public sealed class LiveTraining<T> : ITrainingStepHook<T>, ILiveControl, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Trainer<T> trainer;
    private readonly LiveEventLog events;
    private readonly T[]? sample;
    private readonly LiveSettings settings;
    private readonly ManualResetEventSlim running = new(true);
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly LiveOutbox outbox;
    private TimeSpan lastStep, lastPictures = TimeSpan.FromDays(-1), paused, picturesWait;
    private double lossSum;
    private int correct, samples;
    private long stepsDone;

    /// <summary>Watches <paramref name="trainer"/> (adds its hooks and handlers) and publishes to <paramref name="events"/>.</summary>
    /// <param name="trainer">The run.</param>
    /// <param name="events">Where the events go.</param>
    /// <param name="sample">One input (the network's input shape) whose feature maps are drawn, or null for none.</param>
    /// <param name="settings">How often to publish (default: <see cref="LiveSettings"/>'s).</param>
    public LiveTraining(Trainer<T> trainer, LiveEventLog events, T[]? sample = null, LiveSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(events);
        if (sample is not null && sample.Length != trainer.Network.InputShape.Size)
            throw new ArgumentException($"the network takes {trainer.Network.InputShape} = {trainer.Network.InputShape.Size} values per sample, the picture's sample has {sample.Length}", nameof(sample));
        this.trainer = trainer;
        this.events = events;
        this.sample = sample;
        this.settings = settings ?? new LiveSettings();
        Statistics = new LayerStatistics<T>(trainer.Network, this.settings.StatisticsEvery) { MinInterval = this.settings.LayersInterval };
        Statistics.Measured += OnMeasured;
        var figures = new LayerFigures(Statistics.LayerNames, Statistics.Parameters, Statistics.ParameterLayer);
        outbox = new LiveOutbox(this.settings.Background, figures, PublishStep, f => events.Publish("layers", Describe(f), LiveJson.Default.LayersEvent), this.settings.PublishInterval);
        Statistics.Enabled = events.Watched;
        trainer.StepHooks.Add(Statistics);
        trainer.StepHooks.Add(this);
        trainer.EpochCompleted += OnEpoch;
        if (sample is not null && this.settings.Background) (drawing, trainedValues, drawingValues) = DrawingCopy(trainer.Network);
    }

    // The pictures are drawn on the publishing thread from a copy of the network made here once: at picture time the
    // training thread only copies the parameter values into it (a memory copy), then trains on while the copy is drawn.
    private readonly Network<T>? drawing;
    private readonly T[][] trainedValues = [], drawingValues = [];
    private int drawingBusy;
    private long drawingTicks;

    /// <summary>A network of the same layers as <paramref name="network"/> to draw from, or null when one cannot be built the same.</summary>
    private static (Network<T>?, T[][], T[][]) DrawingCopy(Network<T> network)
    {
        try
        {
            var copy = ModelSpec.Parse(network.Spec).Build<T>(network.InputShape);
            var from = network.Parameters.Select(p => p.Value).ToArray();
            var to = copy.Parameters.Select(p => p.Value).ToArray();
            if (from.Length != to.Length || from.Where((v, i) => v.Length != to[i].Length).Any()) return (null, [], []);
            return (copy, from, to);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (null, [], []); // a spec that does not build again: draw on the training thread
        }
    }

    private long costTicks;

    /// <summary>
    /// Time the page has cost the training thread so far: its step hook (running sums, leaving frames, drawing the
    /// pictures) and the per-layer measurements. Not the publishing thread's, nor the web server's.
    /// </summary>
    public TimeSpan Cost => Stopwatch.GetElapsedTime(0, costTicks) + Statistics.Cost;

    /// <summary>The per-layer statistics published.</summary>
    public LayerStatistics<T> Statistics { get; }

    /// <summary>True while the page's pause button holds training.</summary>
    public bool Paused => !running.IsSet;

    /// <summary>Publishes the <c>run</c> event: the model's layers and whatever else describes the run (<paramref name="info"/>, serialised as JSON: its properties join the event's).</summary>
    public void PublishRun(IReadOnlyDictionary<string, object?> info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var network = trainer.Network;
        var data = new Dictionary<string, object?>(info)
        {
            ["spec"] = network.Spec,
            ["parameters"] = network.ParameterCount,
            ["classes"] = network.Classes,
            ["class_names"] = network.ClassNames,
            ["layers"] = ModelSummary.Rows(network).Select(r => new { r.Index, r.Token, Output = r.Output.ToString(), r.Parameters }).ToArray(),
            ["statistics_every"] = Statistics.Every,
            ["started"] = DateTime.UtcNow.ToString("O"),
        };
        events.Publish("run", data);
    }

    /// <summary>Publishes how the run ended: <c>guard</c> (what the divergence guard found, with <paramref name="advice"/>) when it stopped training, then <c>done</c>.</summary>
    public void Finish(TrainingResult result, Evaluation? final = null, string? advice = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        FlushSteps();
        outbox.Post(PublishUnwatched); // the whole run's curves stay in the history for a page opened later
        outbox.Drain(TimeSpan.FromSeconds(30));
        if (result.Diverged)
            events.Publish("guard", new { step = result.Divergence?.Step, divergence = result.Divergence?.Describe() ?? result.StopReason, advice, last_checkpoint = result.LastCheckpoint });
        events.Publish("done", new
        {
            stop_reason = result.StopReason,
            result.Stopped,
            result.Diverged,
            result.Steps,
            checkpoint = result.LastCheckpoint,
            test_accuracy = final?.Accuracy,
            test_loss = final is null ? null : LiveEventLog.Finite(final.Loss),
        });
    }

    /// <inheritdoc/>
    public string Apply(string action)
    {
        switch (action?.Trim().ToLowerInvariant())
        {
            case "pause":
                running.Reset();
                outbox.Post(() => events.Publish("paused", new PausedEvent(true), LiveJson.Default.PausedEvent));
                return "paused";
            case "resume":
                running.Set();
                outbox.Post(() => events.Publish("paused", new PausedEvent(false), LiveJson.Default.PausedEvent));
                return "running";
            case "stop":
                trainer.Stopping.Request("stop button");
                running.Set();
                outbox.Post(() => events.Publish("stopping", new StoppingEvent("stop button"), LiveJson.Default.StoppingEvent));
                return "stopping";
            default:
                throw new ArgumentException($"unknown action '{action}': expected pause, resume or stop");
        }
    }

    void ITrainingStepHook<T>.Updated(TrainingStep<T> step, in StepResult result)
    {
        long start = Stopwatch.GetTimestamp();
        lastEpochSteps = step.StepsPerEpoch;
        totalSteps = step.TotalSteps;
        lossSum += result.Loss * result.Count;
        correct += result.Correct;
        samples += result.Count;
        stepsDone++;
        var now = clock.Elapsed;
        if (now - lastStep >= settings.StepInterval) LeaveSteps(step.Optimizer.StepCount, now);
        // With no page open (and no mirror) no one sees the per-layer figures or the pictures: neither is measured nor
        // drawn, and a page that connects gets both from the next step on. The step figures (a few sums) always go out,
        // so that the page shows the whole run's curves whenever it is opened.
        bool watched = events.Watched;
        if (Statistics.Enabled != watched) Statistics.Enabled = watched;
        if (watched && sample is not null && now - lastPictures >= picturesWait)
        {
            lastPictures = now;
            PublishPictures(step.Optimizer.StepCount);
            // What the pictures cost (copying the weights here, drawing them on the publishing thread, which takes a
            // core from training on a busy machine; or both here without a publishing thread): under 2 % of the time.
            var cost = clock.Elapsed - now + Stopwatch.GetElapsedTime(0, Volatile.Read(ref drawingTicks));
            picturesWait = TimeSpan.FromTicks(Math.Max(settings.PicturesInterval.Ticks, 50 * cost.Ticks));
        }
        costTicks += Stopwatch.GetTimestamp() - start;
        if (!running.IsSet)
        {
            var held = Stopwatch.StartNew();
            running.Wait();
            paused += held.Elapsed;
            lastStep = clock.Elapsed;
        }
    }

    private long lastStepCount, lastEpochSteps = 1, totalSteps;

    /// <summary>Leaves the steps since the last frame in the outbox (no allocation) and starts new sums.</summary>
    private void LeaveSteps(long count, TimeSpan now)
    {
        if (samples == 0) return;
        double active = Math.Max((now - paused).TotalSeconds, 1e-9);
        long left = Math.Max(0, totalSteps - count);
        var frame = new StepFrame
        {
            Step = count,
            Epoch = (count - 1) / lastEpochSteps + 1,
            TotalSteps = totalSteps,
            Coalesced = count - lastStepCount,
            LossSum = lossSum,
            Correct = correct,
            Samples = samples,
            Seconds = (now - lastStep).TotalSeconds,
            SecondsLeft = left * active / Math.Max(stepsDone, 1),
        };
        outbox.PostStep(frame);
        lastStepCount = count;
        lastStep = now;
        lossSum = 0;
        correct = 0;
        samples = 0;
    }

    // Step frames left while no page was open: kept as figures, not JSON, and published (in order, before any newer
    // one) once a page opens or the run ends. Touched only where frames are published (the outbox's thread).
    private readonly List<StepFrame> unwatched = [];

    /// <summary>Publishes a step frame (on the outbox's thread); while no page is open, only keeps it.</summary>
    private void PublishStep(StepFrame f)
    {
        if (!events.Watched)
        {
            if (unwatched.Count >= LiveEventLog.MaxSteps)
            {
                // Bounded as the event log's history is, but by merging neighbours: their sums stay exact.
                int kept = 0;
                for (int i = 0; i < unwatched.Count; i += 2)
                {
                    var pair = unwatched[i];
                    if (i + 1 < unwatched.Count) pair.Merge(unwatched[i + 1]);
                    unwatched[kept++] = pair;
                }
                unwatched.RemoveRange(kept, unwatched.Count - kept);
            }
            unwatched.Add(f);
            return;
        }
        PublishUnwatched();
        events.Publish("step", StepData(f), LiveJson.Default.StepEvent);
    }

    /// <summary>Publishes the step frames kept while no page was open (on the outbox's thread).</summary>
    private void PublishUnwatched()
    {
        foreach (var u in unwatched) events.Publish("step", StepData(u), LiveJson.Default.StepEvent);
        unwatched.Clear();
    }

    private static StepEvent StepData(in StepFrame f) => new(
        f.Step,
        f.Epoch,
        f.TotalSteps,
        LiveEventLog.Finite(f.LossSum / Math.Max(f.Samples, 1)),
        (double)f.Correct / Math.Max(f.Samples, 1),
        LiveEventLog.Finite(f.Samples / Math.Max(f.Seconds, 1e-9)),
        LiveEventLog.Finite(f.SecondsLeft),
        f.Coalesced);

    private void FlushSteps() => LeaveSteps(trainer.Optimizer.StepCount, clock.Elapsed);

    private void PublishPictures(long step)
    {
        if (drawing is not null)
        {
            if (Volatile.Read(ref drawingBusy) != 0) return; // the last ones are still being drawn: skip these
            for (int i = 0; i < trainedValues.Length; i++) trainedValues[i].AsSpan().CopyTo(drawingValues[i]);
            Volatile.Write(ref drawingBusy, 1);
            outbox.Post(() =>
            {
                long start = Stopwatch.GetTimestamp();
                try
                {
                    PublishPicturesOf(drawing, step, onPublishingThread: true);
                }
                finally
                {
                    Volatile.Write(ref drawingTicks, Stopwatch.GetTimestamp() - start);
                    Volatile.Write(ref drawingBusy, 0);
                }
            });
            return;
        }
        PublishPicturesOf(trainer.Network, step, onPublishingThread: false);
    }

    private void PublishPicturesOf(Network<T> network, long step, bool onPublishingThread)
    {
        byte[]? kernels = ModelPictures.KernelsPng(network);
        byte[] maps = ModelPictures.FeatureMapsPng<T>(network, sample!);
        void Publish() => events.Publish("pictures", new PicturesEvent(
            step,
            kernels is null ? null : "data:image/png;base64," + Convert.ToBase64String(kernels),
            "data:image/png;base64," + Convert.ToBase64String(maps)), LiveJson.Default.PicturesEvent);
        if (onPublishingThread) Publish();
        else outbox.Post(Publish);
    }

    /// <summary>A measurement (at most one per <see cref="LiveSettings.LayersInterval"/>): its figures are copied into the outbox.</summary>
    private void OnMeasured(LayerStatistics<T> s) =>
        outbox.PostLayers(s.Step, s.MeanAbsActivation, s.MaxAbsActivation, s.ZeroFraction, s.GradientNorm, s.UpdateRatio);

    /// <summary>The <c>layers</c> event's data for <paramref name="s"/>.</summary>
    public static object Describe(LayerStatistics<T> s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var figures = new LayerFigures(s.LayerNames, s.Parameters, s.ParameterLayer);
        figures.CopyFrom(s.Step, s.MeanAbsActivation, s.MaxAbsActivation, s.ZeroFraction, s.GradientNorm, s.UpdateRatio);
        return Describe(figures);
    }

    private static LayersEvent Describe(LayerFigures s) => new(
        s.Step,
        [.. s.LayerNames.Select((name, k) => new LayerRow(name, LiveEventLog.Finite(s.MeanAbsActivation[k]), LiveEventLog.Finite(s.MaxAbsActivation[k]), LiveEventLog.Finite(s.ZeroFraction[k])))],
        [.. s.Parameters.Select((name, i) => new ParameterRow(name, s.ParameterLayer[i] + 1, LiveEventLog.Finite(s.GradientNorm[i]), LiveEventLog.Finite(s.UpdateRatio[i])))]);

    private void OnEpoch(EpochResult e)
    {
        FlushSteps();
        var held = e.Validation ?? e.Test;
        int[][]? confusion = held is null ? null
            : Enumerable.Range(0, held.Confusion.GetLength(0)).Select(i => Enumerable.Range(0, held.Confusion.GetLength(1)).Select(j => held.Confusion[i, j]).ToArray()).ToArray();
        int epochs = trainer.Options.Epochs;
        outbox.Post(() => events.Publish("epoch", new EpochEvent(
            e.Epoch,
            epochs,
            e.Steps,
            LiveEventLog.Finite(e.TrainLoss),
            LiveEventLog.Finite(e.TrainAccuracy),
            held is null ? null : e.Validation is null ? "test" : "validation",
            held is null ? null : LiveEventLog.Finite(held.Loss),
            held?.Accuracy,
            LiveEventLog.Finite(e.Seconds),
            LiveEventLog.Finite(e.SamplesPerSecond),
            confusion), LiveJson.Default.EpochEvent));
    }

    /// <summary>Publishes what waits and ends the publishing thread.</summary>
    public void Dispose() => outbox.Dispose();
}
