using SharpCnn.Data;
using SharpCnn.Training;
using SharpCnn.Web.Live;

namespace SharpCnn.Cli;

/// <summary>
/// <c>train --live</c>: the live page's server and the hooks that feed it, for the run of one train command. The
/// page's URL goes to standard error ("live page: http://127.0.0.1:PORT/") so that standard output keeps its form
/// (text or JSON Lines). With <c>--json</c>, the same hooks add <c>step</c> and <c>layers</c> objects to the JSON
/// Lines (at most one step a second and one layers every 5 s without <c>--live</c>), which <c>view</c> replays.
/// The page alone gets its events from a publishing thread (<see cref="LiveSettings.Background"/>); with <c>--json</c>
/// they are published on the training thread so that standard output keeps one writer and the run's order.
/// </summary>
internal sealed class LiveTrainingPage<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LiveServer? server;
    private readonly TextWriter? error;
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    private LiveTrainingPage(LiveServer? server, LiveTraining<T> training, TextWriter? error = null)
    {
        this.server = server;
        this.error = error;
        Training = training;
    }

    /// <summary>What feeds the page.</summary>
    public LiveTraining<T> Training { get; }

    /// <summary>
    /// Starts the page for <paramref name="trainer"/> on <paramref name="port"/> (0: a free one; null: no page, only the
    /// JSON events); the feature maps are of the first sample of <paramref name="pictures"/>. <paramref name="json"/> is
    /// standard output when it takes JSON Lines: step and layers events are written there too.
    /// </summary>
    public static LiveTrainingPage<T> Start(Trainer<T> trainer, ImageDataSet pictures, int? port, TrainingStart start, TextWriter error, TextWriter? json)
    {
        var log = new LiveEventLog
        {
            Mirror = json is null ? null : (type, data) =>
            {
                if (type is not ("step" or "layers")) return;
                json.WriteLine($"{{\"event\":\"{type}\"," + data[1..]);
                json.Flush();
            },
        };
        if (port is null)
        {
            // Standard output takes the events beside the report's lines: published on the training thread, in order.
            var quiet = new LiveSettings { StepInterval = TimeSpan.FromSeconds(1), LayersInterval = TimeSpan.FromSeconds(5), Background = false };
            return new LiveTrainingPage<T>(null, new LiveTraining<T>(trainer, log, null, quiet));
        }
        var sample = new T[pictures.Shape.Size];
        pictures.CopyBatch<T>([0], sample, new int[1]);
        // With --json the events also go to standard output: published on the training thread, in order with its lines.
        var training = new LiveTraining<T>(trainer, log, sample, new LiveSettings { Background = json is null });
        LiveServer server;
        try
        {
            server = LiveServer.StartAsync(log, training, port.Value).GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            throw new ArgumentException($"--port {port}: {e.Message}", e);
        }
        training.PublishRun(Info(start));
        error.WriteLine($"live page: {server.Url}");
        error.Flush();
        return new LiveTrainingPage<T>(server, training, error);
    }

    /// <summary>The <c>run</c> event's description of the run (also what <c>view</c> shows of a <c>--json</c> log's start).</summary>
    public static Dictionary<string, object?> Info(TrainingStart s) => new()
    {
        ["live"] = true,
        ["model"] = s.ModelLabel,
        ["data"] = s.DataLine,
        ["settings"] = $"{s.Options.Epochs} epoch(s), batch {s.Options.BatchSize}, {s.Options.Optimizer} {s.Rate}, seed {s.Options.Seed}{s.Safety}, {s.Precision}",
        ["epochs"] = s.Options.Epochs,
        ["batch_size"] = s.Options.BatchSize,
        ["optimizer"] = s.Options.Optimizer,
        ["learning_rate"] = s.Options.LearningRate,
        ["checkpoint"] = s.Options.CheckpointPath,
    };

    /// <summary>Publishes the end of the run and gives connected pages a moment to receive it.</summary>
    public void Finish(TrainingResult result, Evaluation? final, string? advice)
    {
        Training.Finish(result, final, advice);
        // What the page cost the training thread (bench/live-overhead.sh reads this line; docs/LIVE.md).
        error?.WriteLine($"live page: {Training.Cost.TotalSeconds:F3} s of the training thread's time (per-layer statistics {Training.Statistics.Cost.TotalSeconds:F3} s) over {result.Steps} steps ({100 * Training.Cost.TotalSeconds / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F2} % of the run's {clock.Elapsed.TotalSeconds:F1} s)");
        if (server is { Events.Clients: > 0 }) Thread.Sleep(500);
    }

    public void Dispose()
    {
        Training.Dispose();
        server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
