using SharpCnn.Web.Live;

namespace SharpCnn.Web.Tests.Live;

/// <summary>LiveOutbox: step frames wait for the publishing interval (nothing is woken per step), rare events go out at once, and the publishing thread runs at the lowest priority.</summary>
public sealed class LiveOutboxTests
{
    private static LayerFigures Figures() => new(["1 dense2"], ["1 dense2 weight"], [0]);

    private static StepFrame Frame(long step) => new() { Step = step, Coalesced = 1, LossSum = step, Samples = 1, Correct = 1, Seconds = 0.1 };

    [Fact]
    public void StepFramesWaitForTheIntervalAndARareEventTakesThemOutAtOnceInOrder()
    {
        var published = new List<string>();
        using var done = new ManualResetEventSlim();
        using var outbox = new LiveOutbox(true, Figures(), f => { lock (published) published.Add($"step {f.Step}"); }, _ => { lock (published) published.Add("layers"); }, TimeSpan.FromHours(1));
        for (int i = 1; i <= 5; i++) outbox.PostStep(Frame(i));
        outbox.PostLayers(5, [1], [1], [0], [1], [1]);
        Thread.Sleep(200);
        lock (published) Assert.Empty(published); // not woken by steps or layers: they wait for the interval
        outbox.Post(() => { lock (published) published.Add("epoch"); done.Set(); });
        Assert.True(done.Wait(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken), "a rare event wakes the publishing thread");
        lock (published) Assert.Equal(["step 1", "step 2", "step 3", "step 4", "step 5", "layers", "epoch"], published);
    }

    [Fact]
    public void StepFramesBeyondTheBoundAreMergedNotLost()
    {
        var frames = new List<StepFrame>();
        using var outbox = new LiveOutbox(true, Figures(), f => frames.Add(f), _ => { }, TimeSpan.FromHours(1));
        int posted = LiveOutbox.MaxWaitingSteps + 30;
        for (int i = 1; i <= posted; i++) outbox.PostStep(Frame(i));
        outbox.Drain(TimeSpan.FromMinutes(1));
        Assert.Equal(LiveOutbox.MaxWaitingSteps, frames.Count);
        Assert.Equal(posted, frames.Sum(f => f.Coalesced));
        Assert.Equal(posted, frames[^1].Step);
        Assert.Equal(31, frames[^1].Coalesced); // the last kept frame took the 30 after it
    }

    [Fact]
    public void ThePublishingThreadRunsAtTheLowestPriority()
    {
        using var outbox = new LiveOutbox(true, Figures(), _ => { }, _ => { }, TimeSpan.FromHours(1));
        if (!OperatingSystem.IsLinux())
        {
            Assert.Equal("lowest .NET thread priority", outbox.Priority);
            return;
        }
        Assert.Equal("nice 19", outbox.Priority);
        // The thread's own nice value (field 19 of /proc/self/task/TID/stat), read back from the kernel.
        var nices = Directory.GetDirectories("/proc/self/task")
            .Where(t => File.ReadAllText(Path.Combine(t, "comm")).Trim() == "live page event") // names are cut to 15 characters
            .Select(t => File.ReadAllText(Path.Combine(t, "stat")))
            .Select(stat => int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
        Assert.NotEmpty(nices);
        Assert.All(nices, n => Assert.Equal(19, n)); // this outbox's thread, and any other test's
        using var inline = new LiveOutbox(false, Figures(), _ => { }, _ => { });
        Assert.Null(inline.Priority); // no publishing thread, nothing lowered
    }
}

/// <summary>The events' serialisers made at build time write what the reflection serialiser writes (snake_case, nulls left out).</summary>
public sealed class LiveJsonTests
{
    private static void Same<T>(T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize<object>(data!, LiveEventLog.Json), System.Text.Json.JsonSerializer.Serialize(data, info));

    [Fact]
    public void TheGeneratedSerialisersWriteWhatReflectionWrites()
    {
        Same(new StepEvent(12, 2, 500, 0.25, 0.875, 1234.5, null, 3), LiveJson.Default.StepEvent);
        Assert.Equal("{\"step\":12,\"epoch\":2,\"total_steps\":500,\"accuracy\":0.875,\"coalesced\":3}",
            System.Text.Json.JsonSerializer.Serialize(new StepEvent(12, 2, 500, null, 0.875, null, null, 3), LiveJson.Default.StepEvent));
        Same(new LayersEvent(16, [new LayerRow("1 conv3x3x4", 0.5, 2, null)], [new ParameterRow("1 conv3x3x4 weight", 1, 1e-3, double.Epsilon)]), LiveJson.Default.LayersEvent);
        Same(new PicturesEvent(3, null, "data:image/png;base64,AAA="), LiveJson.Default.PicturesEvent);
        Same(new EpochEvent(1, 2, 10, 0.5, 0.75, "test", 0.625, 0.8, 1.5, 100, [[1, 0], [0, 2]]), LiveJson.Default.EpochEvent);
        Same(new EpochEvent(1, 2, 10, null, null, null, null, null, null, null, null), LiveJson.Default.EpochEvent);
        Same(new PausedEvent(true), LiveJson.Default.PausedEvent);
        Same(new StoppingEvent("stop button's"), LiveJson.Default.StoppingEvent);
    }
}
