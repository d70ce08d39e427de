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
/// training: a step frame left while the previous one is still waiting is merged into it (its steps coalesced:
/// nothing lost, fewer events), a layers frame replaces a waiting one (the stale figures are dropped), and the
/// rare events (epochs, pictures, pause, stop) queue in order. Leaving a step or layers frame allocates nothing
/// (the lists and copies are made once). Without a publishing thread (<c>background: false</c>) everything is
/// published at once on the caller's thread, in order.
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

    private readonly object gate = new();
    private readonly Action<StepFrame> publishStep;
    private readonly Action<LayerFigures> publishLayers;
    private readonly LayerFigures waitingLayers, drainedLayers;
    private readonly Thread? thread;
    private readonly AutoResetEvent wake = new(false);
    private List<Item> waiting = new(64), draining = new(64);
    private bool layersWaiting, closing;

    public LiveOutbox(bool background, LayerFigures layers, Action<StepFrame> publishStep, Action<LayerFigures> publishLayers)
    {
        this.publishStep = publishStep;
        this.publishLayers = publishLayers;
        waitingLayers = layers;
        drainedLayers = new LayerFigures(layers.LayerNames, layers.Parameters, layers.ParameterLayer);
        if (!background) return;
        thread = new Thread(Run) { IsBackground = true, Name = "live page events", Priority = ThreadPriority.BelowNormal };
        thread.Start();
    }

    /// <summary>Leaves the figures of some steps (merged into a waiting step frame if there is one at the end of the queue).</summary>
    public void PostStep(in StepFrame frame)
    {
        if (thread is null)
        {
            publishStep(frame);
            return;
        }
        lock (gate)
        {
            if (waiting.Count > 0 && waiting[^1].Kind == Kind.Step)
            {
                var merged = waiting[^1].Step;
                merged.Merge(frame);
                waiting[^1] = new Item(Kind.Step, merged, null);
            }
            else
            {
                waiting.Add(new Item(Kind.Step, frame, null));
            }
        }
        wake.Set();
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
        wake.Set();
    }

    /// <summary>Queues a rare event's publication (allocates its closure: not for every step).</summary>
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
        while (true)
        {
            wake.WaitOne();
            bool layers;
            bool stop;
            lock (gate)
            {
                (waiting, draining) = (draining, waiting);
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
    }
}
