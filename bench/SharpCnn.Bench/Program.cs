using BenchmarkDotNet.Running;
using SharpCnn.Bench;

// SharpCnn.Bench: BenchmarkDotNet suites for the kernels (run with no arguments for the menu, or
// --filter '*Gemm*' etc.), plus two quick modes that need no BenchmarkDotNet run:
//   peak                  the measured float FMA peak on 1 and 2 threads
//   quick                 best-of-rounds GFLOP/s of every kernel suite's shapes (a fast look)
if (args.Length > 0 && args[0] == "peak")
{
    QuickMeasure.PrintPeak();
    return 0;
}
if (args.Length > 0 && args[0] == "quick")
{
    QuickMeasure.Run(args.Skip(1).ToArray());
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);
return 0;
