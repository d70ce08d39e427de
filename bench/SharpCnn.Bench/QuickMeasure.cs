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
}
