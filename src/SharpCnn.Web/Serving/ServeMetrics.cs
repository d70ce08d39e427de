using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace SharpCnn.Web.Serving;

/// <summary>
/// What a <see cref="ModelServer"/> counts: requests, answers by status, forward passes and their sizes, and the
/// latency of the last <see cref="Window"/> prediction requests (p50, p99). Thread-safe.
/// </summary>
public sealed class ServeMetrics
{
    /// <summary>How many recent prediction latencies the percentiles are taken over.</summary>
    public const int Window = 8192;

    private readonly ConcurrentDictionary<int, long> statuses = new();
    private readonly double[] latencies = new double[Window];
    private readonly Lock latencyLock = new();
    private long requests, predictions, batches, batchedSamples, largestBatch, latencyCount;

    /// <summary>Every request answered.</summary>
    public long Requests => Interlocked.Read(ref requests);

    /// <summary>Predictions answered 200.</summary>
    public long Predictions => Interlocked.Read(ref predictions);

    /// <summary>Forward passes run.</summary>
    public long Batches => Interlocked.Read(ref batches);

    /// <summary>Images run, over every forward pass.</summary>
    public long BatchedSamples => Interlocked.Read(ref batchedSamples);

    /// <summary>The largest forward pass so far, in images.</summary>
    public long LargestBatch => Interlocked.Read(ref largestBatch);

    /// <summary>Images per forward pass, on average (0 before the first).</summary>
    public double MeanBatchSize => Batches == 0 ? 0 : (double)BatchedSamples / Batches;

    /// <summary>Answers by HTTP status code.</summary>
    public IReadOnlyDictionary<int, long> Statuses => new SortedDictionary<int, long>(statuses);

    /// <summary>Counts one answered request; <paramref name="milliseconds"/> enters the percentiles when it was a prediction request.</summary>
    public void Answered(int status, double milliseconds, bool prediction)
    {
        Interlocked.Increment(ref requests);
        statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
        if (!prediction) return;
        if (status == 200) Interlocked.Increment(ref predictions);
        lock (latencyLock) latencies[latencyCount++ % Window] = milliseconds;
    }

    /// <summary>Counts one forward pass of <paramref name="size"/> images.</summary>
    public void Batch(int size)
    {
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref batchedSamples, size);
        long seen;
        while (size > (seen = Interlocked.Read(ref largestBatch)) && Interlocked.CompareExchange(ref largestBatch, size, seen) != seen) { }
    }

    /// <summary>The latency (ms) under which fraction <paramref name="q"/> of the recent prediction requests were answered; 0 before any.</summary>
    public double LatencyPercentile(double q)
    {
        double[] recent;
        lock (latencyLock) recent = latencies.AsSpan(0, (int)Math.Min(latencyCount, Window)).ToArray();
        if (recent.Length == 0) return 0;
        Array.Sort(recent);
        return recent[Math.Clamp((int)Math.Ceiling(q * recent.Length) - 1, 0, recent.Length - 1)];
    }

    /// <summary>The figures as one JSON-ready object (queue length from the caller).</summary>
    public object Snapshot(int queueLength) => new
    {
        requests = Requests,
        predictions = Predictions,
        errors = Statuses.Where(s => s.Key >= 400).ToDictionary(s => s.Key.ToString(CultureInfo.InvariantCulture), s => s.Value),
        statuses = Statuses.ToDictionary(s => s.Key.ToString(CultureInfo.InvariantCulture), s => s.Value),
        batches = Batches,
        batchedImages = BatchedSamples,
        meanBatchSize = MeanBatchSize,
        largestBatch = LargestBatch,
        latencyP50Ms = LatencyPercentile(0.50),
        latencyP99Ms = LatencyPercentile(0.99),
        queueLength,
    };

    /// <summary>The figures in Prometheus' text format.</summary>
    public string Prometheus(int queueLength)
    {
        var text = new StringBuilder();
        void Line(string name, string type, string help, IEnumerable<(string Labels, double Value)> values)
        {
            text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
            foreach (var (labels, value) in values) text.Append(CultureInfo.InvariantCulture, $"{name}{labels} {value}\n");
        }
        Line("sharpcnn_requests_total", "counter", "Requests answered, by HTTP status.", Statuses.Select(s => ($"{{status=\"{s.Key}\"}}", (double)s.Value)));
        Line("sharpcnn_batches_total", "counter", "Forward passes run.", [("", Batches)]);
        Line("sharpcnn_batched_images_total", "counter", "Images run over every forward pass.", [("", BatchedSamples)]);
        Line("sharpcnn_batch_size_mean", "gauge", "Images per forward pass, on average.", [("", MeanBatchSize)]);
        Line("sharpcnn_latency_ms", "gauge", "Prediction latency over the recent requests.", [("{quantile=\"0.5\"}", LatencyPercentile(0.5)), ("{quantile=\"0.99\"}", LatencyPercentile(0.99))]);
        Line("sharpcnn_queue_length", "gauge", "Requests waiting for the model.", [("", queueLength)]);
        return text.ToString();
    }
}
