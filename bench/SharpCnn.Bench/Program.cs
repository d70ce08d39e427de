using BenchmarkDotNet.Running;
using SharpCnn.Bench;

// SharpCnn.Bench: BenchmarkDotNet suites for the kernels (run with no arguments for the menu, or
// --filter '*Gemm*' etc.), plus two quick modes that need no BenchmarkDotNet run:
//   peak                  the measured float FMA peak on 1 and 2 threads
//   quick                 best-of-rounds GFLOP/s of every kernel suite's shapes (a fast look)
//   layers [batch] [threads] [steps] [spec]   where a training step's time goes, layer by layer
//   steps [batch] [threads] [count] [adam|sgd|momentum] [spec] [--guarded]   only training steps, unguarded as sharpcnn bench's
//     unless --guarded (then as sharpcnn train's: the divergence guard on, the update after it); wall and CPU time; also to run under a sampling profiler
//     (DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -e cpu-clock ...)
//   trace [batch] [threads] [chunks] [adam|sgd|momentum] [spec] [--guarded]   training steps in half-second chunks, each
//     with the round trip of a cache line between the cores before and after it (near or apart: PERFORMANCE.md)
//   pack [threads]        the Winograd filter transform of the seed CNN's second convolution (forward and input gradient)
if (args.Length > 0 && args[0] == "peak")
{
    QuickMeasure.PrintPeak();
    return 0;
}
if (args.Length > 0 && args[0] == "layers")
{
    // layers [batch] [threads] [steps] [spec]: per-layer forward/backward times of a training step
    int batch = args.Length > 1 ? int.Parse(args[1]) : 64;
    int threads = args.Length > 2 ? int.Parse(args[2]) : 1;
    int steps = args.Length > 3 ? int.Parse(args[3]) : 10;
    string spec = args.Length > 4 ? args[4] : SharpCnn.Model.Presets.Find("seed-cnn")!.Spec;
    LayerProfile.Run(spec, batch, threads, steps);
    return 0;
}
if (args.Length > 0 && args[0] is "steps" or "trace")
{
    // steps [batch] [threads] [count] [optimizer] [spec] [--guarded]: just training steps (default: the seed CNN with Adam), for a sampling profiler
    // trace [batch] [threads] [chunks] [optimizer] [spec] [--guarded]: steps in half-second chunks, each with the cores' round trip
    //   (default: the seed CNN at batch 1 with plain SGD on 2 threads)
    bool trace = args[0] == "trace", guarded = args.Contains("--guarded");
    args = [.. args.Where(a => a != "--guarded")];
    int batch = args.Length > 1 ? int.Parse(args[1]) : trace ? 1 : 64;
    int threads = args.Length > 2 ? int.Parse(args[2]) : trace ? 2 : 1;
    int count = args.Length > 3 ? int.Parse(args[3]) : trace ? 20 : 50;
    string optimizer = args.Length > 4 ? args[4] : trace ? "sgd" : "adam";
    string spec = args.Length > 5 ? args[5] : SharpCnn.Model.Presets.Find("seed-cnn")!.Spec;
    if (trace) LayerProfile.Trace(spec, batch, threads, count, optimizer, guarded);
    else LayerProfile.Steps(spec, batch, threads, count, optimizer, guarded);
    return 0;
}
if (args.Length > 0 && args[0] == "pack")
{
    WinogradPackMeasure.Run(args.Length > 1 ? int.Parse(args[1]) : 1);
    return 0;
}
if (args.Length > 0 && args[0] == "quick")
{
    QuickMeasure.Run(args.Skip(1).ToArray());
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);
return 0;
