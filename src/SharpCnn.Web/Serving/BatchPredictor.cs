using System.Diagnostics;
using System.Threading.Channels;
using SharpCnn.Model;

namespace SharpCnn.Web.Serving;

/// <summary>
/// Dynamic batching: prediction requests wait in a bounded queue; one worker thread takes every waiting request
/// (up to the largest batch), scales their pixels into one batch buffer and runs one forward pass
/// (<see cref="Inference{T}"/>, on the model's own compute threads). Under load, requests arrive while a pass runs,
/// so the next pass is larger and the cost per image falls; a lone request runs at once as a batch of one.
/// The batch buffer and the network's buffers are allocated once: a pass allocates nothing but the answers.
/// </summary>
internal sealed class BatchPredictor : IDisposable
{
    private readonly Classifier<float> model;
    private readonly Inference<float> inference;
    private readonly Channel<Job> queue;
    private readonly float[] batch;
    private readonly Job[] jobs;
    private readonly int maxBatch;
    private readonly ServeMetrics metrics;
    private readonly Thread worker;
    private readonly ManualResetEventSlim running = new(initialState: true);
    private int queued;
    private long forwardBytes;

    public BatchPredictor(Classifier<float> model, int maxBatch, int maxQueue, ServeMetrics metrics)
    {
        this.model = model;
        this.maxBatch = maxBatch;
        this.metrics = metrics;
        inference = new Inference<float>(model.Network, maxBatch);
        model.Network.Reserve(maxBatch);
        batch = new float[maxBatch * model.InputShape.Size];
        jobs = new Job[maxBatch];
        queue = Channel.CreateBounded<Job>(new BoundedChannelOptions(maxQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        worker = new Thread(Work) { IsBackground = true, Name = "sharpcnn serve batches" };
        worker.Start();
    }

    /// <summary>For tests: while false, the worker takes no request (so a full queue and a missed deadline can be made to happen).</summary>
    internal bool Running
    {
        get => running.IsSet;
        set
        {
            if (value) running.Set();
            else running.Reset();
        }
    }

    /// <summary>
    /// Bytes the worker thread allocated inside forward passes (after the warm-up at construction):
    /// 0 is the promise that a pass allocates nothing per request (tested).
    /// </summary>
    internal long ForwardPassAllocatedBytes => Interlocked.Read(ref forwardBytes);

    /// <summary>Requests waiting for a forward pass.</summary>
    public int QueueLength => Volatile.Read(ref queued);

    /// <summary>A request: the image's pixel bytes in the model's input shape, and its answer to come.</summary>
    public sealed class Job(byte[] pixels)
    {
        public byte[] Pixels { get; } = pixels;

        public TaskCompletionSource<Prediction> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Queues <paramref name="job"/>; false when the queue is full (or the predictor is stopping).</summary>
    public bool TryEnqueue(Job job)
    {
        if (!queue.Writer.TryWrite(job)) return false;
        Interlocked.Increment(ref queued);
        return true;
    }

    private void Work()
    {
        int size = model.InputShape.Size;
        // Warm-up, on this thread (some scratch space is per thread): a pass at the largest batch and one of a single image
        // size every buffer the layers grow on first use (and compile the code), so no request pays for it and later passes allocate nothing.
        inference.Run(batch);
        inference.Run(batch.AsSpan(0, size));
        while (true)
        {
            var wait = queue.Reader.WaitToReadAsync();
            bool more = wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
            if (!more) return;
            running.Wait();
            int n = 0;
            while (n < maxBatch && queue.Reader.TryRead(out var job))
            {
                Interlocked.Decrement(ref queued);
                if (job.Answer.Task.IsCompleted) continue; // its request gave up (deadline): no work for it
                Classifier<float>.ScalePixels(job.Pixels, batch.AsSpan(n * size, size));
                jobs[n++] = job;
            }
            if (n == 0) continue;
            try
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var outputs = inference.Run(batch.AsSpan(0, n * size));
                Interlocked.Add(ref forwardBytes, GC.GetAllocatedBytesForCurrentThread() - before);
                metrics.Batch(n);
                int classes = model.Classes;
                for (int i = 0; i < n; i++) jobs[i].Answer.TrySetResult(model.Interpret(outputs.Slice(i * classes, classes)));
            }
            catch (Exception e)
            {
                for (int i = 0; i < n; i++) jobs[i].Answer.TrySetException(e);
            }
            Array.Clear(jobs, 0, n);
        }
    }

    /// <summary>Stops taking requests, lets the worker finish what is queued, and puts the network's mode back.</summary>
    public void Dispose()
    {
        queue.Writer.TryComplete();
        running.Set();
        if (!worker.Join(TimeSpan.FromSeconds(30))) Debug.Fail("the batch worker did not stop");
        inference.Dispose();
        running.Dispose();
    }
}
