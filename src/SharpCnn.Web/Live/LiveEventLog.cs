using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;

namespace SharpCnn.Web.Live;

/// <summary>
/// The events of one training run, as server-sent events (<c>event: TYPE</c>, <c>data: JSON</c>), kept for clients
/// that connect late and sent to every connected one. The history is bounded: step events are thinned (every
/// second one dropped) each time they reach <see cref="MaxSteps"/>, so a reload still shows the whole run at a
/// coarser grain; epoch events are all kept (up to <see cref="MaxEpochs"/>); of every other type only the latest is
/// kept (run, layers, pictures, guard, paused, done). Thread-safe.
/// </summary>
public sealed class LiveEventLog
{
    /// <summary>Step events kept before the history is thinned.</summary>
    public const int MaxSteps = 4096;

    /// <summary>Epoch events kept (the oldest are dropped beyond).</summary>
    public const int MaxEpochs = 10_000;

    /// <summary>Events queued for one client before it counts as too slow and is dropped.</summary>
    private const int ClientQueue = 4096;

    /// <summary>JSON as the events carry it: snake_case names, non-finite numbers as null, nulls left out.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly object gate = new();
    private readonly List<string> steps = [];
    private readonly Queue<string> epochs = new();
    private readonly Dictionary<string, string> latest = [];
    private readonly List<string> latestOrder = [];
    private readonly List<Channel<string>> clients = [];
    private bool closed;
    private int clientCount;

    /// <summary>Also given every event published, as its type and JSON data (e.g. to write a log), on the publishing thread.</summary>
    public Action<string, string>? Mirror { get; init; }

    /// <summary>Events published so far.</summary>
    public long Published { get; private set; }

    /// <summary>Clients connected now.</summary>
    public int Clients => Volatile.Read(ref clientCount);

    /// <summary>
    /// True when what is published is looked at now: a client is connected, or a <see cref="Mirror"/> takes every event.
    /// Lock-free (read at every training step): what only a watching client needs can be skipped while it is false.
    /// </summary>
    public bool Watched => Mirror is not null || Volatile.Read(ref clientCount) > 0;

    /// <summary>A number for JSON: null when not finite.</summary>
    public static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>Publishes an event of <paramref name="type"/> whose data is <paramref name="data"/> serialised as JSON.</summary>
    public void Publish(string type, object data)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(type);
        PublishJson(type, JsonSerializer.Serialize(data, Json));
    }

    /// <summary>Publishes an event whose data is serialised by a serialiser made at build time (no reflection: for the events sent while training runs).</summary>
    internal void Publish<TData>(string type, TData data, JsonTypeInfo<TData> info)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(type);
        PublishJson(type, JsonSerializer.Serialize(data, info));
    }

    private void PublishJson(string type, string json)
    {
        Mirror?.Invoke(type, json);
        string text = $"event: {type}\ndata: {json}\n\n";
        lock (gate)
        {
            if (closed) return;
            Published++;
            switch (type)
            {
                case "step":
                    if (steps.Count >= MaxSteps)
                    {
                        int kept = 0;
                        for (int i = 0; i < steps.Count; i += 2) steps[kept++] = steps[i];
                        steps.RemoveRange(kept, steps.Count - kept);
                    }
                    steps.Add(text);
                    break;
                case "epoch":
                    if (epochs.Count >= MaxEpochs) epochs.Dequeue();
                    epochs.Enqueue(text);
                    break;
                default:
                    if (!latest.ContainsKey(type)) latestOrder.Add(type);
                    latest[type] = text;
                    break;
            }
            for (int i = clients.Count - 1; i >= 0; i--)
                if (!clients[i].Writer.TryWrite(text))
                {
                    clients[i].Writer.TryComplete();
                    clients.RemoveAt(i);
                }
            Volatile.Write(ref clientCount, clients.Count);
        }
    }

    /// <summary>
    /// Connects a client: the history so far (run first, then epochs, steps, the latest of the other types, done
    /// last) and a reader of what is published from now on, which completes when the log is closed.
    /// </summary>
    public (string History, ChannelReader<string> Events) Subscribe()
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(ClientQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var history = new StringBuilder();
        lock (gate)
        {
            if (latest.TryGetValue("run", out string? run)) history.Append(run);
            foreach (string e in epochs) history.Append(e);
            foreach (string s in steps) history.Append(s);
            foreach (string type in latestOrder)
                if (type is not "run" and not "done") history.Append(latest[type]);
            if (latest.TryGetValue("done", out string? done)) history.Append(done);
            if (closed) channel.Writer.TryComplete();
            else clients.Add(channel);
            Volatile.Write(ref clientCount, clients.Count);
        }
        return (history.ToString(), channel.Reader);
    }

    /// <summary>Stops taking events and ends every client's stream (the history stays for later clients).</summary>
    public void Close()
    {
        lock (gate)
        {
            closed = true;
            foreach (var c in clients) c.Writer.TryComplete();
            clients.Clear();
            Volatile.Write(ref clientCount, 0);
        }
    }

    /// <summary>Drops a client (its connection ended).</summary>
    internal void Unsubscribe(ChannelReader<string> reader)
    {
        lock (gate)
        {
            int i = clients.FindIndex(c => c.Reader == reader);
            if (i >= 0) clients.RemoveAt(i);
            Volatile.Write(ref clientCount, clients.Count);
        }
    }
}
