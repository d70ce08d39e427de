using System.Diagnostics;
using SharpCnn.Kernels;

namespace SharpCnn.Bench;

/// <summary>Quick best-of-rounds timings, for development between full BenchmarkDotNet runs.</summary>
internal static class QuickMeasure
{
    public static void PrintPeak()
    {
        Console.WriteLine($"vector width {PeakFlops.VectorName}");
        Console.WriteLine($"peak 1 thread  {PeakFlops.Measure(1),8:F1} GFLOP/s");
        Console.WriteLine($"peak 2 threads {PeakFlops.Measure(2),8:F1} GFLOP/s");
    }

    /// <summary>Best seconds per call of <paramref name="action"/> over a few rounds of about 0.2 s each.</summary>
    public static double Time(Action action, double roundSeconds = 0.2, int rounds = 5)
    {
        action();
        double best = double.MaxValue;
        for (int r = 0; r < rounds; r++)
        {
            int calls = 0;
            var clock = Stopwatch.StartNew();
            do
            {
                action();
                calls++;
            } while (clock.Elapsed.TotalSeconds < roundSeconds);
            best = Math.Min(best, clock.Elapsed.TotalSeconds / calls);
        }
        return best;
    }

    public static void Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "steps")
        {
            // quick steps [batch] [threads] [count] [adam|sgd|momentum] [spec]: the fastest and the median step's wall time
            StepTimes(args.Length > 1 ? int.Parse(args[1]) : 64, args.Length > 2 ? int.Parse(args[2]) : 2, args.Length > 3 ? int.Parse(args[3]) : 60,
                args.Length > 4 ? args[4] : "adam", args.Length > 5 ? args[5] : SharpCnn.Model.Presets.Find("seed-cnn")!.Spec);
            return;
        }
        double peak1 = PeakFlops.Measure(1);
        Console.WriteLine($"peak 1 thread {peak1:F1} GFLOP/s ({PeakFlops.VectorName})");
        foreach (var shape in GemmBenchmarks.Shapes)
        {
            var bench = new GemmBenchmarks { Shape = shape };
            bench.Setup();
            double s = Time(bench.Multiply);
            double gflops = bench.Flops / s / 1e9;
            Console.WriteLine($"gemm {shape,-28} {gflops,7:F1} GFLOP/s  {gflops / peak1,6:P0} of 1-thread peak");
        }
    }

    /// <summary>
    /// Wall time of each of <paramref name="count"/> training steps (after 10 of warm-up), as the fastest, the quartile
    /// and the median step: on a machine shared with other jobs the fastest steps are the ones nothing interrupted,
    /// so they compare two builds better than a mean does. Options as LayerProfile.Steps.
    /// </summary>
    private static void StepTimes(int batch, int threads, int count, string optimizer, string spec)
    {
        Parallelism.ThreadCount = threads;
        var (train, _) = SharpCnn.Data.BundledDigits.Load();
        var net = SharpCnn.Model.ModelFactory.FromSpec<float>(spec, new SharpCnn.Tensors.Shape(1, 28, 28), seed: 1);
        var options = optimizer switch
        {
            "sgd" => new SharpCnn.Training.TrainingOptions { Optimizer = "sgd", LearningRate = 0.01, Momentum = 0, BatchSize = batch },
            "momentum" => new SharpCnn.Training.TrainingOptions { Optimizer = "momentum", LearningRate = 0.05, Momentum = 0.9, WeightDecay = 5e-4, BatchSize = batch },
            _ => new SharpCnn.Training.TrainingOptions { Optimizer = "adam", LearningRate = 1e-3, BatchSize = batch },
        };
        var step = new SharpCnn.Training.TrainingStep<float>(net, options.CreateOptimizer(net.Parameters), options, train.Count);
        int[] indices = Enumerable.Range(0, batch).ToArray();
        for (int s = 0; s < 10; s++) step.Run(train, indices);
        var times = new double[count];
        for (int s = 0; s < count; s++)
        {
            long start = Stopwatch.GetTimestamp();
            step.Run(train, indices);
            times[s] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        Console.WriteLine($"step ms: fastest {times[0]:F2}, quartile {times[count / 4]:F2}, median {times[count / 2]:F2} ({optimizer}, batch {batch}, {threads} thread(s), {count} steps)");
    }
}
