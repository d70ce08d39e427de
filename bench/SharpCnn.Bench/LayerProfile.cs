using System.Diagnostics;
using SharpCnn.Data;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Bench;

/// <summary>
/// Where a training step's time goes. Whole steps are the trainer's own <see cref="TrainingStep{T}"/> (Adam,
/// learning rate 0.001, the first batch of the bundled digits), their phases timed by a step hook; each layer's
/// forward and backward are then timed on their own, outside the step.
/// </summary>
internal static class LayerProfile
{
    public static void Run(string spec, int batch, int threads, int steps)
    {
        var (step, data, indices) = Prepare(spec, batch, threads);
        var net = step.Network;
        var phases = new PhaseTimer();
        step.Hooks.Add(phases);

        // Whole steps, phase by phase.
        for (int s = -3; s < steps; s++)
        {
            phases.Recording = s >= 0;
            phases.Start = Stopwatch.GetTimestamp();
            step.Run(data, indices);
        }

        // Forward per layer: each layer's Forward timed on its own, on the input the steps left, into an output buffer
        // allocated and touched once outside the timed loop (its state, e.g. max pooling's arg-max, is what the same
        // input gave, so the backward timings below see the same state).
        int layers = net.Layers.Count;
        var forward = new double[layers];
        var backward = new double[layers];
        var fastestForward = new double[layers];
        var fastestBackward = new double[layers];
        Array.Fill(fastestForward, double.MaxValue);
        Array.Fill(fastestBackward, double.MaxValue);
        var ys = new float[layers][];
        for (int k = 0; k < layers; k++)
        {
            ys[k] = new float[net.Activation(k + 1, batch).Length];
            Array.Fill(ys[k], 1f);
        }
        for (int s = -2; s < steps; s++)
        {
            for (int k = 0; k < layers; k++)
            {
                var x = net.Activation(k, batch);
                long a = Stopwatch.GetTimestamp();
                net.Layers[k].Forward(x, ys[k], batch);
                long b = Stopwatch.GetTimestamp();
                if (s >= 0) forward[k] += b - a;
                if (s >= 0) fastestForward[k] = Math.Min(fastestForward[k], b - a);
            }
        }

        // Backward per layer: time each layer's Backward directly on the buffers the network filled. The δ and dx
        // buffers are allocated and touched once, outside the timed loop (a fresh array's first writes are page
        // faults, which a training step, reusing its buffers, does not pay).
        var dys = new float[layers][];
        var dxs = new float[layers][];
        for (int k = 0; k < layers; k++)
        {
            dys[k] = new float[net.Activation(k + 1, batch).Length];
            for (int i = 0; i < dys[k].Length; i++) dys[k][i] = 1e-3f * (i % 7);
            dxs[k] = k == 0 ? [] : new float[net.Activation(k, batch).Length];
            Array.Fill(dxs[k], 1f);
        }
        for (int s = -2; s < steps; s++)
        {
            for (int k = layers - 1; k >= 0; k--)
            {
                var layer = net.Layers[k];
                var x = net.Activation(k, batch);
                var y = net.Activation(k + 1, batch);
                var dy = dys[k];
                var dx = k == 0 ? Span<float>.Empty : dxs[k].AsSpan();
                long a = Stopwatch.GetTimestamp();
                layer.Backward(x, y, dy, dx, batch);
                long b = Stopwatch.GetTimestamp();
                if (s >= 0) backward[k] += b - a;
                if (s >= 0) fastestBackward[k] = Math.Min(fastestBackward[k], b - a);
            }
        }
        double ms(double ticks) => ticks / Stopwatch.Frequency * 1000 / steps;
        Console.WriteLine($"batch {batch}, {threads} thread(s), ms per step (mean of {steps}; fastest in brackets, steadier on a shared machine):");
        for (int k = 0; k < layers; k++)
        {
            var layer = net.Layers[k];
            double f = ms(forward[k]), b = ms(backward[k]);
            double flops = (double)layer.TrainingFlops(withInputGradient: k > 0) * batch;
            double fastF = ms(fastestForward[k] * steps), fastB = ms(fastestBackward[k] * steps);
            Console.WriteLine($"  {layer.Token,-22} forward {f,8:F3} [{fastF,7:F3}]  backward {b,8:F3} [{fastB,7:F3}]   {flops / ((f + b) / 1000) / 1e9,7:F1} GFLOP/s (executed flops)");
        }
        Console.WriteLine("  the training step, by phase:");
        Console.WriteLine($"  {"load the batch",-22} {ms(phases.Load),8:F3}");
        Console.WriteLine($"  {"zero, forward, guard",-22} {ms(phases.Forward),8:F3}");
        Console.WriteLine($"  {"loss and backward",-22} {ms(phases.Backward),8:F3}");
        Console.WriteLine($"  {"guard, adam update",-22} {ms(phases.Update),8:F3}");
        double total = ms(phases.Load + phases.Forward + phases.Backward + phases.Update);
        Console.WriteLine($"  {"total",-22} {total,8:F3}  -> {batch / (total / 1000):F0} samples/s");
    }

    /// <summary>
    /// <paramref name="count"/> training steps after 10 of warm-up; prints samples/s (wall clock) and the process's CPU
    /// time per step over the timed steps (less sensitive than the wall clock to other processes on a shared machine).
    /// The steps are unguarded, as <c>sharpcnn bench</c>'s are (so on several threads the update runs beside the backward pass),
    /// or with <paramref name="guarded"/> as <c>sharpcnn train</c>'s are (the guard checks outputs, loss and gradients; the update follows it).
    /// </summary>
    public static void Steps(string spec, int batch, int threads, int count, string optimizer = "adam", bool guarded = false)
    {
        var (step, data, indices) = Prepare(spec, batch, threads, optimizer, guarded);
        for (int s = 0; s < 10; s++) step.Run(data, indices);
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < count; s++) step.Run(data, indices);
        double wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        double cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds / count;
        Console.WriteLine($"{count * batch / wall:F0} samples/s, {cpuMs:F3} ms CPU per step ({optimizer}, batch {batch}, {threads} thread(s), {(guarded ? "guarded" : "unguarded")})");
    }

    /// <summary>
    /// Training steps in <paramref name="chunks"/> timed chunks of half a second, each printed with the round trip of a cache
    /// line between two threads' cores just before and just after it (<see cref="SharpCnn.Kernels.CoreRoundTrip"/>): whether
    /// the host ran the two cores near each other (a shared L3, about 60-110 ns) or apart (about 300-450 ns) during that
    /// chunk, so a speed can be read against where the cores were (PERFORMANCE.md, "Where the host puts the two cores").
    /// </summary>
    public static void Trace(string spec, int batch, int threads, int chunks, string optimizer, bool guarded)
    {
        Console.WriteLine($"{optimizer}, batch {batch}, {threads} thread(s), {(guarded ? "guarded" : "unguarded")}: samples/s per 0.5 s, round trip before and after (ns)");
        var (step, data, indices) = Prepare(spec, batch, threads, optimizer, guarded);
        for (int s = 0; s < 10; s++) step.Run(data, indices);
        for (int c = 0; c < chunks; c++)
        {
            double rt = SharpCnn.Kernels.CoreRoundTrip.Measure(2000, 3, 1);
            var clock = Stopwatch.StartNew();
            int count = 0;
            while (clock.Elapsed.TotalSeconds < 0.5) { step.Run(data, indices); count++; }
            double rt2 = SharpCnn.Kernels.CoreRoundTrip.Measure(2000, 3, 1);
            Console.WriteLine($"{count * batch / clock.Elapsed.TotalSeconds,8:F0} samples/s  rt {rt,6:F0} {rt2,6:F0} ns");
        }
    }

    /// <summary>
    /// The model (He init, seed 1), the optimiser (adam: lr 0.001; sgd: plain, lr 0.01; momentum: 0.9, lr 0.05, weight
    /// decay 5e-4, the Fashion-MNIST recipe's), the bundled training digits and the indices of its first batch.
    /// </summary>
    private static (TrainingStep<float> Step, ImageDataSet Data, int[] Indices) Prepare(string spec, int batch, int threads, string optimizer = "adam", bool guarded = true)
    {
        Parallelism.ThreadCount = threads;
        var (train, _) = BundledDigits.Load();
        var net = ModelFactory.FromSpec<float>(spec, new Shape(1, 28, 28), seed: 1);
        var options = optimizer switch
        {
            "sgd" => new TrainingOptions { Optimizer = "sgd", LearningRate = 0.01, Momentum = 0, BatchSize = batch },
            "momentum" => new TrainingOptions { Optimizer = "momentum", LearningRate = 0.05, Momentum = 0.9, WeightDecay = 5e-4, BatchSize = batch },
            _ => new TrainingOptions { Optimizer = "adam", LearningRate = 1e-3, BatchSize = batch },
        };
        if (batch > train.Count) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"the bundled digits have {train.Count} samples");
        var step = new TrainingStep<float>(net, options.CreateOptimizer(net.Parameters), options, train.Count) { Guarded = guarded };
        return (step, train, Enumerable.Range(0, batch).ToArray());
    }

    /// <summary>Adds up, over the recorded steps, the time from the step's start to each phase's end.</summary>
    private sealed class PhaseTimer : ITrainingStepHook<float>
    {
        private long last;

        public bool Recording { get; set; }

        public long Start
        {
            set => last = value;
        }

        public double Load { get; private set; }

        public double Forward { get; private set; }

        public double Backward { get; private set; }

        public double Update { get; private set; }

        private double Lap()
        {
            long now = Stopwatch.GetTimestamp();
            long elapsed = now - last;
            last = now;
            return Recording ? elapsed : 0;
        }

        public void BatchLoaded(TrainingStep<float> step, int n) => Load += Lap();

        public void Forwarded(TrainingStep<float> step, int n) => Forward += Lap();

        public void BackwardDone(TrainingStep<float> step, int n, double loss) => Backward += Lap();

        public void Updated(TrainingStep<float> step, in StepResult result) => Update += Lap();
    }
}
