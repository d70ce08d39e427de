using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;
using SharpCnn.Web.Live;

namespace SharpCnn.Web.Tests.Live;

/// <summary>LiveTraining without a browser: the events of a run, the guard's stop, and stop while paused.</summary>
public sealed class LiveTrainingTests
{
    private static ImageDataSet Data(int count)
    {
        var pixels = new byte[count * 64];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % 3);
            for (int p = 0; p < 64; p++) pixels[i * 64 + p] = (byte)((i * 31 + p * 7) % 128 + (p % 8 / 3 == labels[i] ? 100 : 0));
        }
        return new ImageDataSet(pixels, labels, 8, 8, 3);
    }

    private static Network<float> Network() => ModelFactory.FromSpec<float>("conv3x3x4,relu,maxpool2,flatten,dense3", new Shape(1, 8, 8), seed: 3);

    private static int Count(string history, string type) => history.Split($"event: {type}\n").Length - 1;

    [Fact]
    public void ARunPublishesItsStepsLayersEpochsPicturesAndEnd()
    {
        var trainer = new Trainer<float>(Network(), new TrainingOptions { BatchSize = 4, Epochs = 2, LearningRate = 0.01 });
        var events = new LiveEventLog();
        var data = Data(40);
        var sample = new float[64];
        data.CopyBatch<float>([0], sample, new int[1]);
        using var live = new LiveTraining<float>(trainer, events, sample, new LiveSettings { StepInterval = TimeSpan.Zero, LayersInterval = TimeSpan.Zero, StatisticsEvery = 5 });
        var (_, page) = events.Subscribe(); // a page is open: everything is measured and drawn
        live.PublishRun(new Dictionary<string, object?> { ["live"] = true });
        var result = trainer.Fit(data, Data(12), TestContext.Current.CancellationToken);
        live.Finish(result);
        var (history, _) = events.Subscribe();
        Assert.Equal(1, Count(history, "run"));
        // With no interval every step leaves a frame; frames that wait for the publishing thread are coalesced, so
        // the step events together cover the 20 steps, each once, the last one last.
        var steps = history.Split('\n').Where(l => l.StartsWith("data: {\"step\":", StringComparison.Ordinal) && l.Contains("\"coalesced\"", StringComparison.Ordinal))
            .Select(l => System.Text.Json.JsonDocument.Parse(l["data: ".Length..]).RootElement).ToArray();
        Assert.InRange(steps.Length, 2, 20);
        Assert.Equal(20, steps.Sum(e => e.GetProperty("coalesced").GetInt64()));
        Assert.Equal(20, steps[^1].GetProperty("step").GetInt64());
        Assert.Equal(2, Count(history, "epoch"));
        Assert.Equal(1, Count(history, "layers")); // the latest only
        Assert.Contains("\"step\":16,\"layers\"", history);
        Assert.Equal(1, Count(history, "pictures"));
        Assert.Contains("\"confusion\":[[", history);
        Assert.Contains("\"stop_reason\":\"epochs (2)\"", history);
        Assert.Equal(0, Count(history, "guard"));
        Assert.True(page.TryRead(out _), "the open page got events");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithNoPageOpenNothingIsMeasuredOrDrawnAndAPageThatOpensGetsTheWholeRun(bool background)
    {
        var trainer = new Trainer<float>(Network(), new TrainingOptions { BatchSize = 4, Epochs = 1_000, LearningRate = 0.01 });
        var events = new LiveEventLog();
        var data = Data(40);
        var sample = new float[64];
        data.CopyBatch<float>([0], sample, new int[1]);
        // In the background, a publishing interval longer than the test: only the pictures (and Finish) wake the publishing
        // thread. Without it, each step's frame reaches the publishing code at once (and is kept, not published).
        using var live = new LiveTraining<float>(trainer, events, sample,
            new LiveSettings { StepInterval = TimeSpan.Zero, LayersInterval = TimeSpan.Zero, PicturesInterval = TimeSpan.Zero, StatisticsEvery = 1, PublishInterval = TimeSpan.FromHours(1), Background = background });
        var step = new TrainingStep<float>(trainer.Network, trainer.Optimizer, trainer.Options, data.Count);
        foreach (var hook in trainer.StepHooks) step.Hooks.Add(hook);
        int[] batch = [0, 1, 2, 3];
        for (int i = 0; i < 10; i++) step.Run(data, batch);
        Assert.False(events.Watched);
        Assert.Equal(TimeSpan.Zero, live.Statistics.Cost); // not one step measured
        Assert.Equal(0, live.Statistics.Step);
        Assert.Equal(0, events.Published); // no JSON at all: the step frames are kept as figures

        var (history, page) = events.Subscribe(); // a page opens
        Assert.True(events.Watched);
        Assert.DoesNotContain("event: step", history);
        step.Run(data, batch); // sees the page at its end: draws the pictures, and measures the steps that follow
        step.Run(data, batch);
        Assert.Equal(12, live.Statistics.Step);
        live.Finish(new TrainingResult([], "test", false));
        var received = new System.Text.StringBuilder();
        while (page.TryRead(out string? text)) received.Append(text);
        string sent = received.ToString();
        var steps = sent.Split('\n').Where(l => l.StartsWith("data: {\"step\":", StringComparison.Ordinal) && l.Contains("\"coalesced\"", StringComparison.Ordinal))
            .Select(l => System.Text.Json.JsonDocument.Parse(l["data: ".Length..]).RootElement.GetProperty("step").GetInt64()).ToArray();
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), steps); // the unwatched steps first, in order, then the new ones
        Assert.Contains("event: layers\ndata: {\"step\":12,", sent);
        Assert.InRange(Count(sent, "pictures"), 1, 2); // drawn at the first step with the page open (the next one's skipped while those are drawn, or drawn too)
    }

    [Fact]
    public void TheGuardsStopIsPublished()
    {
        var network = Network();
        network.Layers[0].Parameters[0].Value[4] = float.NaN;
        var trainer = new Trainer<float>(network, new TrainingOptions { BatchSize = 4 });
        var events = new LiveEventLog();
        using var live = new LiveTraining<float>(trainer, events);
        var result = trainer.Fit(Data(40), cancellation: TestContext.Current.CancellationToken);
        live.Finish(result, advice: "try a lower learning rate");
        var (history, _) = events.Subscribe();
        // The default JSON encoder writes ' as \u0027, which JSON.parse reads back.
        Assert.Contains("event: guard\ndata: {\"step\":1,\"divergence\":\"layer 1 \\u0027conv3x3x4\\u0027 output contains NaN at step 1, epoch 1\",\"advice\":\"try a lower learning rate\"}", history);
        Assert.Contains("\"diverged\":true", history);
    }

    [Fact]
    public async Task StopWhilePausedEndsTheRunWithACheckpoint()
    {
        string checkpoint = Path.Combine(Path.GetTempPath(), $"sharpcnn-live-{Guid.NewGuid():N}.ckpt");
        try
        {
            var trainer = new Trainer<float>(Network(), new TrainingOptions { BatchSize = 4, Epochs = 100_000, LearningRate = 0.01, CheckpointPath = checkpoint });
            var events = new LiveEventLog();
            using var live = new LiveTraining<float>(trainer, events, settings: new LiveSettings { StepInterval = TimeSpan.Zero });
            Assert.Equal("paused", live.Apply("pause")); // holds the first step's end
            Assert.True(live.Paused);
            var fit = Task.Run(() => trainer.Fit(Data(40), cancellation: TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
            // Once the first update is counted the training thread is at the gate (or on its way): it cannot pass it.
            var patience = System.Diagnostics.Stopwatch.StartNew();
            while (trainer.Optimizer.StepCount < 1 && patience.Elapsed < TimeSpan.FromMinutes(2))
                await Task.Delay(10, TestContext.Current.CancellationToken);
            Assert.Equal(1, trainer.Optimizer.StepCount);
            Assert.False(fit.IsCompleted);
            Assert.Equal("stopping", live.Apply("stop"));
            var result = await fit.WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
            Assert.True(result.Stopped);
            Assert.Equal("stopped (stop button)", result.StopReason);
            Assert.Equal(1, result.Steps);
            Assert.Equal(1, Trainer<float>.Resume(checkpoint).Optimizer.StepCount);
            Assert.Throws<ArgumentException>(() => live.Apply("explode"));
        }
        finally
        {
            File.Delete(checkpoint);
        }
    }

    [Fact]
    public void ATrainingStepAllocatesNothingWithThePageOn()
    {
        // Every step leaves a step frame and is measured: the most the page ever asks of the training thread, pictures aside.
        var trainer = new Trainer<float>(Network(), new TrainingOptions { BatchSize = 4, Epochs = 1_000, LearningRate = 0.01 });
        var events = new LiveEventLog();
        using var live = new LiveTraining<float>(trainer, events, settings: new LiveSettings { StepInterval = TimeSpan.Zero, LayersInterval = TimeSpan.Zero, StatisticsEvery = 1 });
        var (_, reader) = events.Subscribe(); // one client connected
        var data = Data(40);
        var step = new TrainingStep<float>(trainer.Network, trainer.Optimizer, trainer.Options, data.Count);
        foreach (var hook in trainer.StepHooks) step.Hooks.Add(hook);
        int[] batch = [0, 1, 2, 3];
        for (int i = 0; i < 20; i++) step.Run(data, batch); // warm up: compiled code, list capacities
        // Tiered compilation may allocate on this thread now and then; a step that allocates would do so in every round.
        long fewest = long.MaxValue;
        for (int round = 0; round < 5 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) step.Run(data, batch);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
        live.Finish(new TrainingResult([], "test", false));
        var (history, _) = events.Subscribe();
        Assert.Contains("event: layers", history);
        Assert.Contains($"\"step\":{trainer.Optimizer.StepCount},", history);
        Assert.True(reader.TryRead(out _), "the connected client got events");
    }

    [Fact]
    public void TheWeightsAreBitIdenticalWithAndWithoutThePage()
    {
        var options = new TrainingOptions { BatchSize = 4, Epochs = 3, Optimizer = "adam", LearningRate = 0.01, Seed = 7 };
        var data = Data(40);
        var ct = TestContext.Current.CancellationToken;
        var plain = new Trainer<float>(Network(), options);
        plain.Fit(data, Data(12), ct);
        var watched = new Trainer<float>(Network(), options);
        var sample = new float[64];
        data.CopyBatch<float>([0], sample, new int[1]);
        // Everything on (a page is open): each step measured and published, pictures (a forward pass of the network) every step.
        var events = new LiveEventLog();
        var (_, page) = events.Subscribe();
        using (var live = new LiveTraining<float>(watched, events, sample,
            new LiveSettings { StepInterval = TimeSpan.Zero, LayersInterval = TimeSpan.Zero, PicturesInterval = TimeSpan.Zero, StatisticsEvery = 1 }))
        {
            var result = watched.Fit(data, Data(12), ct);
            live.Finish(result);
            Assert.True(live.Statistics.Step > 0, "the steps were measured");
        }
        Assert.True(page.TryRead(out _), "the open page got events");
        var a = plain.Network.Parameters.ToArray();
        var b = watched.Network.Parameters.ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }
}
