using System.Diagnostics;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Bench;

/// <summary>Where a training step's time goes: each layer's forward and backward and the optimiser, timed separately.</summary>
internal static class LayerProfile
{
    public static void Run(string spec, int batch, int threads, int steps)
    {
        Parallelism.ThreadCount = threads;
        var net = ModelSpec.Parse(spec).Build<float>(new Shape(1, 28, 28));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(1));
        net.Reserve(batch);
        var optimizer = Optimizers.Create<float>("adam", net.Parameters, 1e-3);
        var random = new Random(1);
        var input = net.Input(batch);
        for (int i = 0; i < input.Length; i++) input[i] = (float)random.NextDouble();
        int[] labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        int layers = net.Layers.Count;
        var forward = new double[layers];
        var backward = new double[layers];
        double loss = 0, step = 0, zero = 0;
        for (int s = -3; s < steps; s++)
        {
            bool record = s >= 0;
            long t0 = Stopwatch.GetTimestamp();
            net.ZeroGradients();
            long t1 = Stopwatch.GetTimestamp();
            if (record) zero += t1 - t0;
            for (int k = 0; k < layers; k++)
            {
                long a = Stopwatch.GetTimestamp();
                net.ForwardFrom(k, batch); // runs layers k.. ; subtract the rest below
                long b = Stopwatch.GetTimestamp();
                if (record) forward[k] += b - a;
            }
            // ForwardFrom(k) ran layers k..end: turn the cumulative times into per-layer times.
            long l0 = Stopwatch.GetTimestamp();
            net.Backward(labels, batch);
            long l1 = Stopwatch.GetTimestamp();
            if (record) loss += l1 - l0;
            long o0 = Stopwatch.GetTimestamp();
            optimizer.Step();
            long o1 = Stopwatch.GetTimestamp();
            if (record) step += o1 - o0;
        }
        for (int k = 0; k < layers - 1; k++) forward[k] -= forward[k + 1];

        // Backward per layer: time each layer's Backward directly on the buffers the network filled.
        for (int s = -2; s < steps; s++)
        {
            for (int k = layers - 1; k >= 0; k--)
            {
                var layer = net.Layers[k];
                var x = net.Activation(k, batch);
                var y = net.Activation(k + 1, batch);
                var dy = new float[y.Length];
                var dx = k == 0 ? Span<float>.Empty : new float[x.Length];
                for (int i = 0; i < dy.Length; i++) dy[i] = 1e-3f * (i % 7);
                long a = Stopwatch.GetTimestamp();
                layer.Backward(x, y, dy, dx, batch);
                long b = Stopwatch.GetTimestamp();
                if (s >= 0) backward[k] += b - a;
            }
        }
        double ms(double ticks) => ticks / Stopwatch.Frequency * 1000 / steps;
        Console.WriteLine($"batch {batch}, {threads} thread(s), ms per step (mean of {steps}):");
        double total = 0;
        for (int k = 0; k < layers; k++)
        {
            var layer = net.Layers[k];
            double f = ms(forward[k]), b = ms(backward[k]);
            total += f + b;
            double flops = 3.0 * layer.ForwardFlops * batch;
            Console.WriteLine($"  {layer.Token,-22} forward {f,8:F3}  backward {b,8:F3}   {flops / ((f + b) / 1000) / 1e9,7:F1} GFLOP/s (3x forward flops)");
        }
        Console.WriteLine($"  {"zero gradients",-22} {ms(zero),8:F3}");
        Console.WriteLine($"  {"optimizer (adam)",-22} {ms(step),8:F3}");
        Console.WriteLine($"  {"total",-22} {total + ms(zero) + ms(step),8:F3}  -> {batch / ((total + ms(zero) + ms(step)) / 1000):F0} samples/s");
    }

    /// <summary>Runs <paramref name="count"/> training steps and prints samples/s (for a sampling profiler).</summary>
    public static void Steps(string spec, int batch, int threads, int count)
    {
        Parallelism.ThreadCount = threads;
        var net = ModelSpec.Parse(spec).Build<float>(new Shape(1, 28, 28));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(1));
        net.Reserve(batch);
        var optimizer = Optimizers.Create<float>("adam", net.Parameters, 1e-3);
        var random = new Random(1);
        var input = net.Input(batch);
        for (int i = 0; i < input.Length; i++) input[i] = (float)random.NextDouble();
        int[] labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < count; s++)
        {
            net.ZeroGradients();
            net.Forward(batch);
            net.Backward(labels, batch);
            optimizer.Step();
        }
        Console.WriteLine($"{count * batch / clock.Elapsed.TotalSeconds:F0} samples/s");
    }
}
