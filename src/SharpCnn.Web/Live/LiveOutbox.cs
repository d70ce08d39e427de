using SharpCnn.Kernels;

namespace SharpCnn.Web.Live;

/// <summary>The figures of one or more training steps, coalesced: sums over the steps, the latest step's position.</summary>
internal struct StepFrame
{
    public long Step, Epoch, TotalSteps, Coalesced;
    public double LossSum, SecondsLeft, Seconds;
    public int Correct, Samples;

    /// <summary>Adds <paramref name="later"/>'s steps to these: the sums grow, the position becomes the later one's.</summary>
    public void Merge(in StepFrame later)
    {
        Step = later.Step;
        Epoch = later.Epoch;
        TotalSteps = later.TotalSteps;
        SecondsLeft = later.SecondsLeft;
        Coalesced += later.Coalesced;
        LossSum += later.LossSum;
        Seconds += later.Seconds;
        Correct += later.Correct;
        Samples += later.Samples;
    }
}

/// <summary>A copy of the per-layer figures of one measured step (<see cref="SharpCnn.Training.LayerStatistics{T}"/>).</summary>
internal sealed class LayerFigures(IReadOnlyList<string> layers, IReadOnlyList<string> parameters, int[] parameterLayer)
{
    public long Step;
    public IReadOnlyList<string> LayerNames { get; } = layers;
    public IReadOnlyList<string> Parameters { get; } = parameters;
    public int[] ParameterLayer { get; } = parameterLayer;
    public double[] MeanAbsActivation { get; } = new double[layers.Count];
    public double[] MaxAbsActivation { get; } = new double[layers.Count];
    public double[] ZeroFraction { get; } = new double[layers.Count];
    public double[] GradientNorm { get; } = new double[parameters.Count];
    public double[] UpdateRatio { get; } = new double[parameters.Count];

    public void CopyFrom(long step, double[] meanAbs, double[] maxAbs, double[] zeros, double[] gradients, double[] updates)
    {
        Step = step;
        meanAbs.CopyTo(MeanAbsActivation, 0);
        maxAbs.CopyTo(MaxAbsActivation, 0);
        zeros.CopyTo(ZeroFraction, 0);
        gradients.CopyTo(GradientNorm, 0);
        updates.CopyTo(UpdateRatio, 0);
    }

    public void CopyFrom(LayerFigures other) =>
        CopyFrom(other.Step, other.MeanAbsActivation, other.MaxAbsActivation, other.ZeroFraction, other.GradientNorm, other.UpdateRatio);
}

/// <summary>
/// Where the training thread leaves what the live page should hear, so that serialising it to JSON and writing it
/// to the event log and its clients happen on a publishing thread of their own. Bounded without ever blocking
/// training: step frames wait apart (up to <see cref="MaxWaitingSteps"/>; a frame left beyond that is merged into the
/// last one: its steps coalesced, nothing lost, fewer events), a layers frame replaces a waiting one (the stale figures
/// are dropped), and the rare events (epochs, pictures, pause, stop) queue in order. Leaving a step or layers frame
/// allocates nothing (the lists and copies are made once) and wakes nothing: the publishing thread takes what waits
/// once per publishing interval (the page redraws at most twice a second anyway), or at once when a rare event is
/// left. That thread runs at the lowest priority the system gives (<see cref="BackgroundPriority"/>: nice 19 on Linux)
/// and runs its kernels (the pictures' forward pass) on itself alone (<see cref="Parallelism.InlineOnThisThread"/>),
/// so that it works only on a core training leaves and never holds the kernels' worker pool. Without a publishing
/// thread (<c>background: false</c>) everything is published at once on the caller's thread, in order.
/// </summary>
internal sealed class LiveOutbox : IDisposable
{
    private enum Kind
    {
        Step,
        Layers,
        Action,
    }

    private readonly record struct Item(Kind Kind, StepFrame Step, Action? Action);

    /// <summary>Step frames kept apart while they wait; a frame left beyond that is merged into the last one.</summary>
    public const int MaxWaitingSteps = 64;

    private readonly object gate = new();
    private readonly Action<StepFrame> publishStep;
    private readonly Action<LayerFigures> publishLayers;
    private readonly LayerFigures waitingLayers, drainedLayers;
    private readonly Thread? thread;
    private readonly TimeSpan interval;
    private readonly AutoResetEvent wake = new(false);
    private readonly ManualResetEventSlim started = new(false);
    private List<Item> waiting = new(2 * MaxWaitingSteps), draining = new(2 * MaxWaitingSteps);
    private int stepsWaiting;
    private bool layersWaiting, closing;

    /// <summary>An outbox; with <paramref name="background"/>, its publishing thread takes what waits every <paramref name="interval"/> (default 500 ms).</summary>
    public LiveOutbox(bool background, LayerFigures layers, Action<StepFrame> publishStep, Action<LayerFigures> publishLayers, TimeSpan? interval = null)
    {
        this.publishStep = publishStep;
        this.publishLayers = publishLayers;
        this.interval = interval ?? TimeSpan.FromMilliseconds(500);
        ArgumentOutOfRangeException.ThrowIfLessThan(this.interval, TimeSpan.Zero, nameof(interval));
        waitingLayers = layers;
        drainedLayers = new LayerFigures(layers.LayerNames, layers.Parameters, layers.ParameterLayer);
        if (!background) return;
        thread = new Thread(Run) { IsBackground = true, Name = "live page events" };
        thread.Start();
    }

    /// <summary>What the publishing thread's priority was set to (e.g. "nice 19"), once it runs; null without one.</summary>
    public string? Priority
    {
        get
        {
            if (thread is null) return null;
            started.Wait(TimeSpan.FromSeconds(30));
            return priority;
        }
    }

    private string? priority;

    /// <summary>Leaves the figures of some steps (kept apart, or merged into the last waiting frame when <see cref="MaxWaitingSteps"/> wait already).</summary>
    public void PostStep(in StepFrame frame)
    {
        if (thread is null)
        {
            publishStep(frame);
            return;
        }
        lock (gate)
        {
            if (stepsWaiting >= MaxWaitingSteps && waiting.Count > 0 && waiting[^1].Kind == Kind.Step)
            {
                var merged = waiting[^1].Step;
                merged.Merge(frame);
                waiting[^1] = new Item(Kind.Step, merged, null);
            }
            else
            {
                waiting.Add(new Item(Kind.Step, frame, null));
                stepsWaiting++;
            }
        }
        // Not woken: the publishing thread comes by every interval.
    }

    /// <summary>Leaves per-layer figures, replacing any that wait.</summary>
    public void PostLayers(long step, double[] meanAbs, double[] maxAbs, double[] zeros, double[] gradients, double[] updates)
    {
        if (thread is null)
        {
            waitingLayers.CopyFrom(step, meanAbs, maxAbs, zeros, gradients, updates);
            publishLayers(waitingLayers);
            return;
        }
        lock (gate)
        {
            waitingLayers.CopyFrom(step, meanAbs, maxAbs, zeros, gradients, updates);
            if (!layersWaiting) waiting.Add(new Item(Kind.Layers, default, null));
            layersWaiting = true;
        }
    }

    /// <summary>Queues a rare event's publication and wakes the publishing thread (allocates its closure: not for every step).</summary>
    public void Post(Action publish)
    {
        if (thread is null)
        {
            publish();
            return;
        }
        lock (gate) waiting.Add(new Item(Kind.Action, default, publish));
        wake.Set();
    }

    /// <summary>The first error publishing met on the publishing thread (publishing goes on), or null.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Waits until everything left so far is published (at most <paramref name="patience"/>).</summary>
    /// <exception cref="InvalidOperationException">Publishing failed on the publishing thread (the inner exception says how).</exception>
    public void Drain(TimeSpan patience)
    {
        if (thread is not null)
        {
            using var done = new ManualResetEventSlim();
            Post(done.Set);
            done.Wait(patience);
        }
        if (Failure is { } failure) throw new InvalidOperationException($"the live page's events could not be published: {failure.Message}", failure);
    }

    private void Run()
    {
        priority = BackgroundPriority.LowerCurrentThread();
        Parallelism.InlineOnThisThread = true;
        started.Set();
        while (true)
        {
            wake.WaitOne(interval);
            bool layers;
            bool stop;
            lock (gate)
            {
                (waiting, draining) = (draining, waiting);
                stepsWaiting = 0;
                layers = layersWaiting;
                if (layers) drainedLayers.CopyFrom(waitingLayers);
                layersWaiting = false;
                stop = closing;
            }
            foreach (var item in draining)
            {
                try
                {
                    switch (item.Kind)
                    {
                        case Kind.Step:
                            publishStep(item.Step);
                            break;
                        case Kind.Layers:
                            if (layers) publishLayers(drainedLayers);
                            break;
                        default:
                            item.Action!();
                            break;
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The page is not worth the run: keep training, say so when the run ends (Drain).
                    Failure ??= e;
                }
            }
            draining.Clear();
            if (stop) return;
        }
    }

    /// <summary>Publishes what waits and ends the publishing thread.</summary>
    public void Dispose()
    {
        if (thread is null) return;
        lock (gate) closing = true;
        wake.Set();
        thread.Join(TimeSpan.FromSeconds(30));
        wake.Dispose();
        started.Dispose();
    }
}
